"""Task names: the 13 BLINK config names used by the paper, their aliases, and name resolution.

Matrices may hold any task names (measured ones use registry ids such as ``synthetic:Counting``);
:func:`resolve` maps what a user types (``counting``, ``CT``, ``multi-view reasoning``) onto the
names a given matrix holds, case- and punctuation-insensitively, and suggests the closest valid
name when nothing matches.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Iterable

from .errors import PGFSelectError


@dataclass(frozen=True)
class BlinkTaskInfo:
    name: str  # BLINK config name, e.g. "Multi-view_Reasoning"
    alias: str  # two-letter code, e.g. "MV"
    val_items: int
    n_choices: int
    n_images: int
    granularity: str  # pixel / crop / patch / image
    granularity_certain: bool  # False: our guess, not stated by the paper's authors
    level: str  # low / mid / high perceptual level
    level_certain: bool


@lru_cache(maxsize=1)
def blink_tasks() -> dict[str, BlinkTaskInfo]:
    """The 13 BLINK tasks of the paper, keyed by canonical name (from data/blink_tasks.csv)."""
    text = resources.files("pgfselect").joinpath("data/blink_tasks.csv").read_text()
    out = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["name"]] = BlinkTaskInfo(
            name=row["name"], alias=row["alias"], val_items=int(row["val_items"]),
            n_choices=int(row["n_choices"]), n_images=int(row["n_images"]),
            granularity=row["granularity"], granularity_certain=row["granularity_certain"] == "yes",
            level=row["level"], level_certain=row["level_certain"] == "yes")
    return out


BLINK_TASKS: tuple[str, ...] = (
    "Art_Style", "Counting", "Forensic_Detection", "Functional_Correspondence", "Jigsaw",
    "Multi-view_Reasoning", "Object_Localization", "Relative_Depth", "Relative_Reflectance",
    "Semantic_Correspondence", "Spatial_Relation", "Visual_Correspondence", "Visual_Similarity",
)


def normalize(name: str) -> str:
    """Case- and punctuation-insensitive key: 'Multi-view_Reasoning' -> 'multiviewreasoning'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _keys(name: str) -> set[str]:
    """Every spelling that should find ``name``: itself, the part after a 'suite:' prefix,
    and the BLINK alias of that part, bare and with the prefix."""
    keys = {normalize(name)}
    prefix, _, bare = name.partition(":") if ":" in name else ("", "", name)
    keys.add(normalize(bare))
    for task in blink_tasks().values():
        if normalize(task.name) == normalize(bare):
            keys.add(normalize(task.alias))
            if prefix:  # 'synthetic:OL' finds 'synthetic:Object_Localization'
                keys.add(normalize(f"{prefix}:{task.alias}"))
    return keys


def resolve(name: str, valid: Iterable[str], what: str = "task") -> str:
    """Return the one name in ``valid`` that ``name`` denotes, or raise PGFSelectError.

    ``what`` names the role in the message ("target", "source").
    """
    valid = list(valid)
    if name in valid:
        return name
    key = normalize(name)
    hits = [v for v in valid if key and key in _keys(v)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise PGFSelectError(f"{what} {name!r} is ambiguous: it matches {', '.join(hits)}; "
                             "write the full name")
    raise PGFSelectError(f"unknown {what} {name!r}{_suggestion(name, valid)}; "
                         f"valid: {', '.join(valid)}")


def _suggestion(name: str, valid: list[str]) -> str:
    spellings = {}
    for v in valid:
        for k in _keys(v):
            spellings.setdefault(k, v)
    close = difflib.get_close_matches(normalize(name), list(spellings), n=1, cutoff=0.6)
    return f" (did you mean {spellings[close[0]]!r}?)" if close else ""


def blink_info(task: str) -> BlinkTaskInfo | None:
    """The BLINK task a name denotes ('suite:Name' maps through Name), or None."""
    bare = normalize(task.split(":", 1)[-1])
    return next((info for info in blink_tasks().values() if normalize(info.name) == bare), None)


def short_label(task: str, *, suite: bool = True) -> str:
    """A task's short label: its BLINK two-letter alias, after the first three letters of its
    suite ('synthetic:Counting' -> 'syn:CT', 'Multi-view_Reasoning' -> 'MV'; ``suite=False``:
    'CT'). A task that is not a BLINK task keeps its whole name."""
    info = blink_info(task)
    if info is None:
        return task
    prefix = task.rpartition(":")[0]
    return f"{prefix[:3]}:{info.alias}" if prefix and suite else info.alias
