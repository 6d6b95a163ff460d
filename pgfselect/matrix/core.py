"""The PGF matrix object and the PGF formula (see :mod:`pgfselect.matrix`)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import PGFSelectError
from ..fileio import atomic_write, json_default
from ..names import resolve
from ..stats import quiet_nan_warnings, t_quantile

MEASURED, UNMEASURED, UNDEFINED = 0, 1, 2
STATUS_NAMES = {MEASURED: "measured", UNMEASURED: "unmeasured", UNDEFINED: "undefined"}

TIDY_COLUMNS = ("model", "seed", "source", "target", "n_eval", "correct_base", "correct_ft",
                "ceiling", "pgf", "status")
# base_fingerprint: the weights a measured matrix's cells started from, for a built tiny base
# (pgfselect.measure.bases.base_fingerprint); blank for a checkpoint, which the model column names.
PROVENANCE_COLUMNS = ("dataset_revision", "prompt_version", "config_hash", "pgfselect_version", "examples_per_task",
                      "base_fingerprint")
AUTHORS_COLUMNS = ("seed", "ft_task", "task", "perfection_gap_factor")

CITATION = ("Sachdeva, Uppal, Java, Balasubramanian. Understanding Task Transfer in "
            "Vision-Language Models. CVPR 2026. arXiv:2511.18787")


@dataclass(frozen=True)
class PublishedMatrix:
    id: str
    model: str
    file: str
    description: str


PUBLISHED = {
    m.id: m for m in (
        PublishedMatrix("published:qwen2.5-vl-3b", "Qwen2.5-VL-3B-Instruct",
                        "pgf_qwen2.5-vl-3B-instruct.csv", "BLINK, 13 tasks, 4 seeds"),
        PublishedMatrix("published:qwen2.5-vl-7b", "Qwen2.5-VL-7B-Instruct",
                        "pgf_qwen2.5-vl-7B-instruct.csv",
                        "BLINK, 13 tasks, 4 seeds (the paper's data-selection model)"),
        PublishedMatrix("published:qwen2.5-vl-32b", "Qwen2.5-VL-32B-Instruct",
                        "pgf_qwen2.5-vl-32B-instruct.csv", "BLINK, 13 tasks, 4 seeds"),
    )
}
DEFAULT_MATRIX = "published:qwen2.5-vl-7b"


def pgf_from_counts(correct_ft, correct_base, n_eval, ceiling=1.0):
    """PGF from correct counts (arrays broadcast). Returns (pgf, defined): ``defined`` is False
    where the headroom ``ceiling·n_eval − correct_base`` is ≤ 0 (pgf is NaN there)."""
    correct_ft = np.asarray(correct_ft, dtype=float)
    correct_base = np.asarray(correct_base, dtype=float)
    n_eval = np.asarray(n_eval, dtype=float)
    # Work in counts, not accuracies, so the published values (exact fractions) are reproduced.
    headroom = np.asarray(ceiling, dtype=float) * n_eval - correct_base
    defined = headroom > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        pgf = np.where(defined, (correct_ft - correct_base) / np.where(defined, headroom, 1.0), np.nan)
    return pgf, np.broadcast_to(defined, pgf.shape)


@dataclass
class PGFMatrix:
    """PGF values for (seed, source, target) with cell status, optional counts and provenance.

    Build with :meth:`from_values` or :meth:`from_counts`; load with :func:`load`.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    seeds: tuple[str, ...]
    values: np.ndarray  # float [seed, source, target]; NaN wherever status != MEASURED
    status: np.ndarray  # int8 [seed, source, target]
    model: str = ""
    name: str = ""  # how it was addressed: "published:qwen2.5-vl-7b" or a path
    n_eval: np.ndarray | None = None  # [seed, target]
    correct_base: np.ndarray | None = None  # [seed, target]
    correct_ft: np.ndarray | None = None  # [seed, source, target]
    ceiling: np.ndarray | None = None  # [target], accuracy in [0, 1]
    provenance: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- construction
    def __post_init__(self):
        self.sources, self.targets, self.seeds = tuple(self.sources), tuple(self.targets), tuple(self.seeds)
        shape = (len(self.seeds), len(self.sources), len(self.targets))
        self.values = np.asarray(self.values, dtype=float).reshape(shape)
        self.status = np.asarray(self.status, dtype=np.int8).reshape(shape)
        for axis, names in (("source", self.sources), ("target", self.targets), ("seed", self.seeds)):
            if len(set(names)) != len(names):
                raise PGFSelectError(f"duplicate {axis} names in matrix: {list(names)}")
        self.values = np.where(self.status == MEASURED, self.values, np.nan)
        bad = (self.status == MEASURED) & ~np.isfinite(self.values)
        if bad.any():
            s, i, j = map(int, np.argwhere(bad)[0])
            raise PGFSelectError(f"PGF for seed {self.seeds[s]}, source {self.sources[i]}, target "
                                 f"{self.targets[j]} is not a finite number")

    @classmethod
    def from_values(cls, values, sources, targets, seeds=None, status=None, **kw) -> "PGFMatrix":
        """From PGF values ``[seed, source, target]`` (or ``[source, target]`` for one seed).
        NaN values are unmeasured unless ``status`` says otherwise."""
        values = np.asarray(values, dtype=float)
        if values.ndim == 2:
            values = values[None]
        seeds = tuple(seeds) if seeds is not None else tuple(f"seed_{k}" for k in range(values.shape[0]))
        if status is None:
            status = np.where(np.isfinite(values), MEASURED, UNMEASURED)
        return cls(sources, targets, seeds, values, status, **kw)

    @classmethod
    def from_counts(cls, correct_ft, correct_base, n_eval, sources, targets, seeds,
                    ceiling=1.0, measured=None, **kw) -> "PGFMatrix":
        """From correct counts: ``correct_ft[seed, source, target]``, ``correct_base[seed, target]``
        (zero-shot, per seed), ``n_eval[seed, target]`` (or ``[target]``), ceiling per target
        (accuracy, default 1.0 = 100%). ``measured`` marks the (seed, source, target) cells that
        exist (default: all)."""
        correct_ft = np.asarray(correct_ft, dtype=float)
        correct_base = np.asarray(correct_base, dtype=float)
        n_eval = np.broadcast_to(np.asarray(n_eval, dtype=float), correct_base.shape)
        ceiling = np.broadcast_to(np.asarray(ceiling, dtype=float), (len(targets),)).copy()
        if ((ceiling <= 0) | (ceiling > 1)).any():
            raise PGFSelectError(f"ceiling must be an accuracy in (0, 1], got {ceiling.tolist()}")
        pgf, defined = pgf_from_counts(correct_ft, correct_base[:, None, :], n_eval[:, None, :], ceiling)
        measured = np.ones(pgf.shape, bool) if measured is None else np.asarray(measured, bool)
        status = np.where(~measured, UNMEASURED, np.where(defined, MEASURED, UNDEFINED))
        return cls(sources, targets, seeds, pgf, status, n_eval=n_eval.copy(), correct_base=correct_base,
                   correct_ft=np.where(measured, correct_ft, np.nan), ceiling=ceiling, **kw)

    # ---------------------------------------------------------------- shape and names
    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values.shape

    @property
    def is_square(self) -> bool:
        return set(self.sources) == set(self.targets)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Task names of a square matrix (sources and targets are the same set)."""
        if not self.is_square:
            raise PGFSelectError("this matrix is not square: its sources and targets differ")
        return self.sources

    def resolve_source(self, name: str) -> str:
        return resolve(name, self.sources, "source")

    def resolve_target(self, name: str) -> str:
        return resolve(name, self.targets, "target")

    def _si(self, source: str) -> int:
        return self.sources.index(self.resolve_source(source))

    def _ti(self, target: str) -> int:
        return self.targets.index(self.resolve_target(target))

    # ---------------------------------------------------------------- cell states
    @property
    def measured(self) -> np.ndarray:
        """[source, target] True where at least one seed measured the cell."""
        return (self.status == MEASURED).any(axis=0)

    @property
    def undefined(self) -> np.ndarray:
        """[source, target] True where no seed measured the cell but some seed found it undefined."""
        return ~self.measured & (self.status == UNDEFINED).any(axis=0)

    @property
    def unmeasured(self) -> np.ndarray:
        """[source, target] True where no seed has the cell at all."""
        return (self.status == UNMEASURED).all(axis=0)

    @property
    def is_complete(self) -> bool:
        """Every cell was measured or found undefined in every seed (no absent cells)."""
        return not (self.status == UNMEASURED).any()

    def n_seeds_measured(self) -> np.ndarray:
        """[source, target] number of seeds with a number in the cell."""
        return (self.status == MEASURED).sum(axis=0)

    # ---------------------------------------------------------------- statistics
    def mean(self) -> np.ndarray:
        """[source, target] mean over the seeds that measured the cell; NaN where none did."""
        with np.errstate(invalid="ignore"), quiet_nan_warnings():
            return np.nanmean(self.values, axis=0)

    def std(self) -> np.ndarray:
        """[source, target] sample standard deviation over seeds (ddof=1); NaN with < 2 seeds."""
        n = self.n_seeds_measured()
        with np.errstate(invalid="ignore"), quiet_nan_warnings():
            sd = np.nanstd(self.values, axis=0, ddof=1)
        return np.where(n >= 2, sd, np.nan)

    def sem(self) -> np.ndarray:
        """[source, target] standard error of the seed mean."""
        return self.std() / np.sqrt(np.maximum(self.n_seeds_measured(), 1))

    def ci(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """[source, target] Student-t confidence interval of the seed mean (NaN with < 2 seeds)."""
        n = self.n_seeds_measured()
        t = t_quantile(level, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * self.sem(), np.nan)
        m = self.mean()
        return m - half, m + half

    def row(self, source: str) -> np.ndarray:
        """Seed-mean PGF of one source towards every target (in ``targets`` order)."""
        return self.mean()[self._si(source)]

    def column(self, target: str) -> np.ndarray:
        """Seed-mean PGF of every source (in ``sources`` order) towards one target."""
        return self.mean()[:, self._ti(target)]

    def base_accuracy(self) -> np.ndarray | None:
        """[seed, target] zero-shot accuracy, when counts are known."""
        if self.correct_base is None or self.n_eval is None:
            return None
        return self.correct_base / self.n_eval

    # ---------------------------------------------------------------- subsets
    def subset(self, tasks: Sequence[str] | None = None, *, sources: Sequence[str] | None = None,
               targets: Sequence[str] | None = None, seeds: Sequence[str] | None = None) -> "PGFMatrix":
        """A new matrix restricted to some tasks (both axes), or to sources/targets/seeds."""
        if tasks is not None:
            sources = targets = tasks
        src = [self.resolve_source(s) for s in sources] if sources is not None else list(self.sources)
        tgt = [self.resolve_target(t) for t in targets] if targets is not None else list(self.targets)
        sds = list(seeds) if seeds is not None else list(self.seeds)
        for s in sds:
            if s not in self.seeds:
                raise PGFSelectError(f"unknown seed {s!r}; valid: {', '.join(self.seeds)}")
        si = [self.sources.index(s) for s in src]
        ti = [self.targets.index(t) for t in tgt]
        ki = [self.seeds.index(s) for s in sds]
        pick3 = np.ix_(ki, si, ti)
        opt = lambda a, idx: None if a is None else a[idx]  # noqa: E731
        return PGFMatrix(src, tgt, sds, self.values[pick3], self.status[pick3], model=self.model,
                         name=self.name, n_eval=opt(self.n_eval, np.ix_(ki, ti)),
                         correct_base=opt(self.correct_base, np.ix_(ki, ti)),
                         correct_ft=opt(self.correct_ft, pick3), ceiling=opt(self.ceiling, ti),
                         provenance=dict(self.provenance))

    # ---------------------------------------------------------------- tidy rows and I/O
    def rows(self) -> list[dict]:
        """Tidy rows, one per (seed, source, target) cell that is not UNMEASURED."""
        out = []
        prov = {k: self.provenance.get(k, "") for k in PROVENANCE_COLUMNS}
        for s, seed in enumerate(self.seeds):
            for i, src in enumerate(self.sources):
                for j, tgt in enumerate(self.targets):
                    st = int(self.status[s, i, j])
                    if st == UNMEASURED:
                        continue
                    row = {"model": self.model, "seed": seed, "source": src, "target": tgt,
                           "n_eval": _int_or_blank(self.n_eval, (s, j)),
                           "correct_base": _int_or_blank(self.correct_base, (s, j)),
                           "correct_ft": _int_or_blank(self.correct_ft, (s, i, j)),
                           "ceiling": "" if self.ceiling is None else float(self.ceiling[j]),
                           "pgf": float(self.values[s, i, j]) if st == MEASURED else "",
                           "status": STATUS_NAMES[st]}
                    row.update(prov)
                    out.append(row)
        return out

    def to_csv(self, path: str | Path | None = None) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=TIDY_COLUMNS + PROVENANCE_COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows())
        text = buf.getvalue()
        if path is not None:
            atomic_write(path, text)
        return text

    def to_json(self, path: str | Path | None = None) -> str:
        doc = {"format": "pgfselect-matrix", "version": 1, "model": self.model,
               "seeds": list(self.seeds), "sources": list(self.sources), "targets": list(self.targets),
               "provenance": self.provenance, "rows": self.rows()}
        text = json.dumps(doc, indent=1, default=json_default)
        if path is not None:
            atomic_write(path, text)
        return text

    def digest(self) -> str:
        """Short content hash (seed values and status), recorded in plans made from this matrix."""
        h = hashlib.sha256()
        h.update(json.dumps([self.sources, self.targets, self.seeds]).encode())
        h.update(np.nan_to_num(self.values, nan=9e9).round(12).tobytes())
        h.update(self.status.tobytes())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"PGFMatrix({self.name or self.model or 'unnamed'}: {len(self.sources)} sources × "
                f"{len(self.targets)} targets × {len(self.seeds)} seeds, "
                f"{int(self.measured.sum())} measured cells)")


def _int_or_blank(arr, idx):
    if arr is None or np.isnan(arr[idx]):
        return ""
    return int(arr[idx])
