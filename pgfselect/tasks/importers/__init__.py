"""``pgfselect tasks import``: users' own data (LLaVA JSON, TRL messages, any datasets folder) as
a custom task ``DIR/task.yaml`` with answer type choice, number or text.

>>> # import_task("llava", "counts.json", "tasks/counts", images="imgs")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import PGFSelectError
from . import hf, llava, messages
from .common import parse_fractions, write_task

FORMATS = ("llava", "messages", "hf")


def import_task(fmt: str, path: str, out: str, *, name: str | None = None, images: str | None = None,
                split_fractions: str = "0.8,0.1,0.1", seed: int = 0, answer_type: str | None = None,
                split_turns: bool = False, columns: str | None = None, revision: str | None = None,
                hf_split: str | None = None, tolerance: float = 0.0, number_metric: str = "exact") -> dict:
    """Read ``path`` in ``fmt`` and write the custom task folder ``out``; returns a summary.
    Every check runs before anything is written; on error nothing is left behind."""
    if fmt not in FORMATS:
        raise PGFSelectError(f"unknown import format {fmt!r}; allowed: {', '.join(FORMATS)}")
    fractions = parse_fractions(split_fractions)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PGFSelectError(f"seed {seed!r} must be a non-negative integer")
    if not 0 <= tolerance < 1:
        raise PGFSelectError(f"tolerance {tolerance!r} must be a relative tolerance in [0, 1)")
    out_path = Path(out)
    name = name or re.sub(r"[^A-Za-z0-9_.\-]", "-", Path(path).stem).strip("-.") or "imported"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise PGFSelectError(f"name {name!r}: letters, digits, '_', '.', '-' only, starting with a letter or digit")
    images_dir = Path(images) if images else None
    if images_dir is not None and not images_dir.is_dir():
        raise PGFSelectError(f"images {images!r} is not a folder")
    if fmt == "hf":
        records = hf.read(path, hf.parse_columns(columns), revision, hf_split)
    else:
        if columns:
            raise PGFSelectError(f"columns applies to the hf format, not {fmt}")

        src = Path(path)
        if fmt == "llava" and not src.is_file():
            raise PGFSelectError(f"{path}: file not found (a LLaVA JSON list)")
        if fmt == "messages" and not src.exists():
            raise PGFSelectError(f"{path}: not found (a JSONL file or a datasets folder)")
        records = (llava if fmt == "llava" else messages).read(src, images_dir, split_turns)
    return write_task(records, out_path, name=name, fmt=fmt, source=str(path), answer_type=answer_type,
                      fractions=fractions, seed=seed,
                      number_options={"tolerance": tolerance, "number_metric": number_metric})
