"""Loading PGF matrices: ``published:ID``, run folders, tidy and 4-column CSV, JSON."""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from ..errors import PGFSelectError
from .core import (AUTHORS_COLUMNS, CITATION, MEASURED, PROVENANCE_COLUMNS, PUBLISHED, STATUS_NAMES, TIDY_COLUMNS,
                   UNMEASURED, PGFMatrix, pgf_from_counts)


def load(spec: str | Path | PGFMatrix) -> PGFMatrix:
    """Load a matrix from ``published:ID``, a run folder holding ``matrix.csv``, a tidy or
    4-column CSV file, or a JSON file written by :meth:`PGFMatrix.to_json`."""
    if isinstance(spec, PGFMatrix):
        return spec
    text_spec = str(spec)
    if text_spec.lower().startswith("published:"):
        return load_published(text_spec)
    path = Path(text_spec)
    if path.is_dir():
        if not (path / "matrix.csv").is_file():
            raise PGFSelectError(f"folder {text_spec!r} holds no matrix.csv (is it a measure output folder?)")
        path = path / "matrix.csv"
    if not path.is_file():
        raise PGFSelectError(f"matrix {text_spec!r} not found: give published:ID "
                             f"({', '.join(PUBLISHED)}), a measure folder, or a .csv/.json file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PGFSelectError(f"cannot read matrix file {text_spec!r}: {exc}") from None
    if path.suffix.lower() == ".json":
        m = _from_json(text, text_spec)
    else:
        m = _from_csv(text, text_spec)
    m.name = text_spec
    return m


def load_published(spec: str) -> PGFMatrix:
    key = spec.strip().lower()
    if key not in PUBLISHED:
        close = difflib.get_close_matches(key, list(PUBLISHED), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise PGFSelectError(f"unknown built-in matrix {spec!r}{hint}; valid: {', '.join(PUBLISHED)}")
    pub = PUBLISHED[key]
    text = resources.files("pgfselect").joinpath("data/published", pub.file).read_text()
    m = _from_csv(text, pub.file)
    m.model, m.name = pub.model, pub.id
    m.provenance = {"source": "published", "citation": CITATION,
                    "url": "github.com/Bhuvan-21/task-transfer-vlms (commit 56fff94)"}
    return m


def _from_csv(text: str, where: str) -> PGFMatrix:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise PGFSelectError(f"{where}: empty file") from None
    if tuple(header) == AUTHORS_COLUMNS:
        records = []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 4:
                raise PGFSelectError(f"{where} line {lineno}: expected 4 fields "
                                     f"({','.join(AUTHORS_COLUMNS)}), got {len(row)}")
            seed, src, tgt, val = (c.strip() for c in row)
            records.append({"seed": seed, "source": src, "target": tgt,
                            "pgf": _parse_pgf(val, where, lineno), "status": "measured",
                            "_line": lineno})
        return _from_records(records, where, model="")
    missing = [c for c in ("seed", "source", "target", "pgf") if c not in header]
    if missing:
        raise PGFSelectError(f"{where}: header lacks {', '.join(missing)}; expected the tidy columns "
                             f"({','.join(TIDY_COLUMNS)}) or the authors' ({','.join(AUTHORS_COLUMNS)})")
    records = []
    for lineno, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise PGFSelectError(f"{where} line {lineno}: expected {len(header)} fields, got {len(row)}")
        rec = dict(zip(header, (c.strip() for c in row)))
        rec["_line"] = lineno
        records.append(rec)
    return _from_records(records, where)


def _from_json(text: str, where: str) -> PGFMatrix:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PGFSelectError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(doc, dict) or doc.get("format") != "pgfselect-matrix" or not isinstance(doc.get("rows"), list):
        raise PGFSelectError(f"{where}: not a pgfselect matrix JSON (needs format 'pgfselect-matrix' and rows)")
    records = []
    for k, rec in enumerate(doc["rows"]):
        if not isinstance(rec, dict):
            raise PGFSelectError(f"{where}: row {k} is not an object")
        records.append({**{key: "" if v is None else v for key, v in rec.items()}, "_line": f"row {k}"})
    m = _from_records(records, where, order=doc)
    m.provenance = {**m.provenance, **(doc.get("provenance") or {})}
    return m


def _from_records(records: list[dict], where: str, model: str | None = None, order: Mapping | None = None) -> PGFMatrix:
    """Tidy records (dicts with a ``_line`` for messages) -> a matrix: check the keys, find the
    axes, fill the cells, then check the counts against the PGF values."""
    if not records:
        raise PGFSelectError(f"{where}: no data rows")

    def where_(rec):
        line = rec["_line"]
        return f"{where} line {line}" if isinstance(line, int) else f"{where} {line}"

    _check_keys(records, where_)
    seeds, sources, targets = _axes(records, order, where_)
    has_counts = all(str(r.get("correct_ft", "")).strip() != "" for r in records) and "n_eval" in records[0]
    cells = _Cells(len(seeds), len(sources), len(targets))
    for rec in records:
        cells.add(rec, (seeds.index(str(rec["seed"])), sources.index(str(rec["source"])),
                        targets.index(str(rec["target"]))), has_counts, where, where_)
    if model is None:
        models = _ordered(str(r.get("model", "")) for r in records)
        model = models[0] if len(models) == 1 else ",".join(models)
    provenance = {k: str(records[0].get(k, "")) for k in PROVENANCE_COLUMNS if records[0].get(k)}
    kw = dict(model=model, provenance=provenance)
    if has_counts:
        cells.check_counts(where, seeds, sources, targets)
        kw.update(n_eval=cells.n_eval, correct_base=cells.base, correct_ft=cells.ft, ceiling=cells.ceiling)
    return PGFMatrix(sources, targets, seeds, cells.values, cells.status, **kw)


def _check_keys(records: list[dict], where_) -> None:
    for rec in records:
        for key in ("seed", "source", "target"):
            if not str(rec.get(key, "")).strip():
                raise PGFSelectError(f"{where_(rec)}: empty {key}")


def _axes(records: list[dict], order: Mapping | None, where_) -> tuple[tuple[str, ...], ...]:
    """(seeds, sources, targets): in order of appearance, or as a JSON file lists them."""
    if not order:
        return tuple(_ordered(str(r[key]) for r in records) for key in ("seed", "source", "target"))
    axes = tuple(tuple(order.get(key) or ()) for key in ("seeds", "sources", "targets"))
    for rec in records:  # JSON lists the axes; rows must stay within them
        for key, axis in zip(("seed", "source", "target"), axes):
            if str(rec[key]) not in axis:
                raise PGFSelectError(f"{where_(rec)}: {key} {rec[key]!r} is not in the file's {key}s list")
    return axes


class _Cells:
    """The arrays a matrix is filled into, one record at a time."""

    def __init__(self, n_seeds: int, n_sources: int, n_targets: int):
        shape = (n_seeds, n_sources, n_targets)
        self.values = np.full(shape, np.nan)
        self.status = np.full(shape, UNMEASURED, dtype=np.int8)
        self.n_eval = np.full((n_seeds, n_targets), np.nan)
        self.base = np.full((n_seeds, n_targets), np.nan)
        self.ft = np.full(shape, np.nan)
        self.ceiling = np.full(n_targets, np.nan)
        self.seen: dict[tuple[int, int, int], object] = {}

    def add(self, rec: dict, cell: tuple[int, int, int], has_counts: bool, where: str, where_) -> None:
        s, i, j = cell
        if cell in self.seen:
            raise PGFSelectError(f"{where_(rec)}: duplicate cell (seed {rec['seed']}, source {rec['source']}, "
                                 f"target {rec['target']}); first seen at {self.seen[cell]}")
        self.seen[cell] = rec["_line"]
        st_name = str(rec.get("status") or "measured").strip().lower()
        status_of = {v: k for k, v in STATUS_NAMES.items()}
        if st_name not in status_of or st_name == "unmeasured":
            raise PGFSelectError(f"{where_(rec)}: status {st_name!r} is not one of measured, undefined")
        st = status_of[st_name]
        if st == MEASURED:
            val = rec["pgf"]
            self.values[cell] = val if isinstance(val, float) else _parse_pgf(str(val), where, rec["_line"])
        self.status[cell] = st
        if not has_counts:
            return
        n = _parse_count(rec, "n_eval", where_)
        b = _parse_count(rec, "correct_base", where_)
        f = _parse_count(rec, "correct_ft", where_)
        c = float(rec.get("ceiling") or 1.0)
        for arr, idx, val, name in ((self.n_eval, (s, j), n, "n_eval"), (self.base, (s, j), b, "correct_base"),
                                    (self.ceiling, j, c, "ceiling")):
            if not np.isnan(arr[idx]) and arr[idx] != val:
                raise PGFSelectError(f"{where_(rec)}: {name} {val} disagrees with {arr[idx]:g} "
                                     f"given earlier for seed {rec['seed']}, target {rec['target']}")
            arr[idx] = val
        self.ft[cell] = f

    def check_counts(self, where: str, seeds, sources, targets) -> None:
        """Recompute PGF from counts so the counts, not a rounded value, are the source of truth."""
        pgf, defined = pgf_from_counts(self.ft, self.base[:, None, :], self.n_eval[:, None, :], self.ceiling)
        bad = (self.status == MEASURED) & (np.abs(pgf - self.values) > 1e-9)
        if bad.any():
            s, i, j = map(int, np.argwhere(bad)[0])
            raise PGFSelectError(f"{where}: pgf {self.values[s, i, j]} for seed {seeds[s]}, source {sources[i]}, "
                                 f"target {targets[j]} disagrees with its counts ({pgf[s, i, j]})")


def _parse_pgf(val: str, where: str, line) -> float:
    loc = f"{where} line {line}" if isinstance(line, int) else f"{where} {line}"
    try:
        x = float(val)
    except ValueError:
        raise PGFSelectError(f"{loc}: pgf {val!r} is not a number") from None
    if not math.isfinite(x):
        raise PGFSelectError(f"{loc}: pgf {val!r} is not a finite number (write status 'undefined' "
                             "in a tidy file for a zero-headroom cell, or leave the cell out if unmeasured)")
    return x


def _parse_count(rec: dict, key: str, where_) -> float:
    try:
        x = float(rec.get(key, ""))
    except (TypeError, ValueError):
        raise PGFSelectError(f"{where_(rec)}: {key} {rec.get(key)!r} is not a number") from None
    if not math.isfinite(x) or x < 0 or x != int(x):
        raise PGFSelectError(f"{where_(rec)}: {key} {rec.get(key)!r} must be a whole number ≥ 0")
    return x


def _ordered(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
