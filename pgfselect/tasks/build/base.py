"""The builder contract and registry: which (BLINK task, source format) pairs can be built.

A builder is a generator function ``make(ctx) -> Iterator[Built]``. It reads the source dataset
in its official layout, visits the source records in an order drawn from ``ctx.rng`` and yields
candidate items lazily; the runner (run.py) checks each candidate's source images against the leak
guard, renders the kept ones and stops at ``n``. So the same seed and inputs give the same items,
and a build of 20 items reads 20-odd records, not the whole dataset.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ...errors import PGFSelectError
from ..loading import open_image
from .leak import IMAGE_SUFFIXES

STATUSES = ("faithful", "unconfirmed")
INPUTS = ("images", "annotations", "path")
REVISITS = 50  # passes over the records at most (a bound, so a source that yields nothing ends)


@dataclass
class Built:
    """One candidate item. ``render()`` draws its images (only called for items that are kept);
    ``originals`` are (key, loader) pairs of the unmarked source images the leak guard compares."""

    render: Callable[[], list]
    question: str
    choices: list[str]
    answer: int
    source: dict
    originals: list[tuple[str, Callable]]


@dataclass
class Context:
    images: Path | None
    annotations: Path | None
    path: Path | None
    rng: np.random.Generator
    wording: str = "question"
    skipped: Counter = field(default_factory=Counter)  # reason -> visits skipped, reported in the data card
    files: dict[str, str] = field(default_factory=dict)  # input file -> sha256, for provenance
    dataset_version: str | None = None  # as the dataset's own files state it (COCO info.version), if they do

    def need(self, name: str, what: str) -> Path:
        """The input ``name`` (checked to exist); ``what`` says what it must hold."""
        value = getattr(self, name)
        if value is None:
            raise PGFSelectError(f"{name} is required for this builder: {what}")
        if not value.exists():
            raise PGFSelectError(f"{name} {str(value)!r} does not exist; it must be {what}")
        return value

    def record_file(self, path: Path) -> None:
        """Hash an annotation file into the provenance (images are summarised, not hashed)."""
        if str(path) in self.files:  # revisited record
            return
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        self.files[str(path)] = h.hexdigest()

    def order(self, n: int) -> np.ndarray:
        """A seeded visiting order of ``n`` source records."""
        return self.rng.permutation(n)

    def visits(self, n: int, passes: int = REVISITS):
        """Seeded visiting orders of ``n`` records, ``passes`` times over: for sources whose records
        each give many different items (other points on a depth map, other keypoints of a pair),
        so that HPatches' 116 sequences or NYU's 795 training frames can make thousands of items."""
        for _ in range(passes):
            yield from self.rng.permutation(n)


@dataclass(frozen=True)
class Builder:
    task: str  # BLINK config name
    fmt: str  # the source format (build_task's source_format, the CLI's --from)
    status: str  # faithful: source and construction as BLINK's; unconfirmed: see `note`
    needs: tuple[str, ...]  # required inputs among INPUTS
    dataset: str  # the source dataset, as recorded in each item's source
    layout: str  # what the inputs must hold, as build_task's parameters: "images=..." (shown by --list and in errors)
    cites: str  # the official loader / README the reader follows
    note: str  # what is not confirmed, or why it is faithful
    license: str
    make: Callable[[Context], Iterator[Built]]
    version: str = "1"  # bump when a builder's output changes for the same inputs


BUILDERS: dict[tuple[str, str], Builder] = {}

# Tasks with no builder, and why (shown by --list, in the data card and in the error).
ABSENT: dict[str, str] = {
    "Functional_Correspondence": (
        "FunKPoint's official file layout, keypoint normalisation and licence are UNCONFIRMED (only a "
        "third-party re-packaging was found), so a reader would be a guess; see data_cards/built-tasks.md"),
    "Multi-view_Reasoning": (
        "BLINK's source dataset is UNCONFIRMED (Wild6D is a recollection), the pose files of Wild6D/CO3D "
        "were not checked and the clockwise = left convention is not verified, so labels could be "
        "systematically flipped; see data_cards/built-tasks.md"),
}


def register(task: str, fmt: str, **kw):
    """Decorator: register ``make`` as the builder of blink:TASK from source format ``fmt``."""
    def wrap(make):
        b = Builder(task=task, fmt=fmt, make=make, **kw)
        if b.status not in STATUSES or set(b.needs) - set(INPUTS) or (task, fmt) in BUILDERS:
            raise ValueError(f"bad builder registration {task} from {fmt}")
        BUILDERS[(task, fmt)] = b
        return make
    return wrap


def shuffled_choices(rng: np.random.Generator, correct, wrong: list) -> tuple[list, int]:
    """``[correct, *wrong]`` in a seeded random order and the index of ``correct``: BLINK places
    the gold option at random positions."""
    options = [correct, *wrong]
    perm = rng.permutation(len(options))
    return [options[i] for i in perm], int(np.flatnonzero(perm == 0)[0])


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise PGFSelectError(f"image {str(path)!r} does not exist") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise PGFSelectError(f"cannot read image {str(path)!r}: {exc}") from None


def open_rgb(path: Path):
    return open_image(path, str(path))
