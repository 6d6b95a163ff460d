"""The cell cache of a measure folder: one JSON file per finished cell, written atomically.

Layout under the output folder ``DIR``::

    DIR/cells/<config hash>/base.json              zero-shot scores (same evaluation items for all seeds)
    DIR/cells/<config hash>/seed_<k>/<source>.json  one finetune and its scores on every task
    DIR/cells/<config hash>/failed/...              cells that failed (retried on the next run)

A killed run loses at most the cell in flight (its file is written with a rename, never
half-way); a rerun skips every file present; a different config has a different hash, so it
can never read stale cells, and :meth:`CellCache.check_foreign` refuses to mix configs in one
folder unless told to.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PGFSelectError
from ..fileio import atomic_write

CELL_FORMAT = "pgfselect-cell"


@dataclass(frozen=True)
class Cell:
    """One unit of work: the zero-shot baseline (source None) or one (source, seed) finetune."""

    source: str | None
    seed: int | None

    @property
    def is_base(self) -> bool:
        return self.source is None

    @property
    def key(self) -> str:
        return "base" if self.is_base else f"seed_{self.seed}/{slug(self.source)}"

    def __str__(self) -> str:
        return "zero-shot base" if self.is_base else f"{self.source} (seed {self.seed})"


def slug(name: str) -> str:
    """File-safe task name: 'synthetic:Multi-view_Reasoning' -> 'synthetic__Multi-view_Reasoning'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name.replace(":", "__"))


class CellCache:
    def __init__(self, out_dir: str | Path, config_hash: str):
        self.out_dir = Path(out_dir)
        self.config_hash = config_hash
        self.root = self.out_dir / "cells" / config_hash

    def path(self, cell: Cell) -> Path:
        return self.root / f"{cell.key}.json"

    def failed_path(self, cell: Cell) -> Path:
        return self.root / "failed" / f"{cell.key.replace('/', '__')}.json"

    def get(self, cell: Cell) -> dict | None:
        """The finished cell's record, or None (absent or unreadable: then it is recomputed)."""
        p = self.path(cell)
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        if rec.get("format") != CELL_FORMAT or rec.get("config_hash") != self.config_hash:
            return None
        return rec

    def put(self, cell: Cell, record: dict) -> None:
        record = {"format": CELL_FORMAT, "version": 1, "config_hash": self.config_hash, **record}
        atomic_write(self.path(cell), json.dumps(record, indent=1, sort_keys=True))
        self.failed_path(cell).unlink(missing_ok=True)

    def put_failed(self, cell: Cell, error: str) -> None:
        doc = {"format": CELL_FORMAT, "config_hash": self.config_hash, "source": cell.source,
               "seed": cell.seed, "status": "failed", "error": error}
        atomic_write(self.failed_path(cell), json.dumps(doc, indent=1))

    def foreign_hashes(self) -> list[str]:
        """Hashes of other configs with finished cells in this folder."""
        cells = self.out_dir / "cells"
        if not cells.is_dir():
            return []
        return sorted(d.name for d in cells.iterdir()
                      if d.is_dir() and d.name != self.config_hash and any(d.rglob("*.json")))

    def check_foreign(self, allow: bool = False) -> None:
        others = self.foreign_hashes()
        if others and not allow:
            raise PGFSelectError(
                f"output folder {str(self.out_dir)!r} holds cells of another config (hash {others[0]}; this "
                f"config is {self.config_hash}: the config, a task's data or generator version, or the prompt "
                "version changed); use a new folder, or force=True to measure this config there too "
                "(the other cells are kept aside and never reused)")
