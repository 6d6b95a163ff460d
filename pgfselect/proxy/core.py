"""What both proxies share: the mix (parsed, checked, normalised), the measure folder's matrix
(its zero-shot counts and ceiling), and the result: per-seed correct counts turned into PGF by the
matrix's own formula, then a seed mean with a t-interval."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PGFSelectError
from ..matrix import MEASURED, UNDEFINED, PGFMatrix, load, pgf_from_counts
from ..stats import mean_t_interval

KINDS = ("ensemble", "merge")


def parse_mix(text: str | list[str] | tuple[str, ...]) -> dict[str, float]:
    """``"A=0.7,B=0.3"`` (or several such strings) -> ``{"A": 0.7, "B": 0.3}``; names unresolved,
    shares unnormalised (see :func:`resolve_mix`)."""
    parts = [p.strip() for chunk in ([text] if isinstance(text, str) else text) for p in chunk.split(",")]
    out: dict[str, float] = {}
    for part in parts:
        name, sep, share = part.partition("=")
        if not sep or not name.strip() or not share.strip():
            raise PGFSelectError(f"mix {part!r} must be SOURCE=SHARE, e.g. counting=0.7,jigsaw=0.3")
        name = name.strip()
        if name in out:
            raise PGFSelectError(f"mix names {name!r} twice; give each source once")
        try:
            out[name] = float(share)
        except ValueError:
            raise PGFSelectError(f"mix share {share.strip()!r} of {name} is not a number") from None
    return out


@dataclass(frozen=True)
class Setup:
    """A checked proxy request: the folder's matrix, the normalised shares (sources with share 0
    dropped: they change nothing) and the target."""

    folder: Path
    matrix: PGFMatrix
    mix: dict[str, float]
    target: str

    @property
    def target_index(self) -> int:
        return self.matrix.targets.index(self.target)

    def cells_exist(self, seed: str) -> bool:
        """Every mixed source has a finished cell towards the target in ``seed``."""
        s, j = self.matrix.seeds.index(seed), self.target_index
        return all(self.matrix.status[s, self.matrix.sources.index(src), j] in (MEASURED, UNDEFINED)
                   for src in self.mix)


def measure_folder(matrix_dir) -> tuple[Path, PGFMatrix]:
    """The folder and its matrix, checked to be a ``pgfselect measure`` folder with correct counts."""
    folder = Path(matrix_dir)
    if not folder.is_dir() or not (folder / "matrix.csv").is_file():
        raise PGFSelectError(f"matrix_dir {str(matrix_dir)!r} is not a measure folder (needs matrix.csv, "
                             "predictions.csv and cells/ as `pgfselect measure` writes them)")
    matrix = load(folder)
    if matrix.correct_base is None or matrix.n_eval is None:
        raise PGFSelectError(f"{folder / 'matrix.csv'} has no correct counts; a proxy needs a measured folder's")
    return folder, matrix


def resolve_mix(matrix_dir, mix: dict[str, float], target: str) -> Setup:
    """Check a proxy request against a measure folder: sources are its rows, the target one of its
    evaluated tasks, shares finite and ≥ 0 with a positive sum (then normalised to 1)."""
    folder, matrix = measure_folder(matrix_dir)
    if not mix:
        raise PGFSelectError("mix is empty; give SOURCE=SHARE pairs, e.g. counting=0.7,jigsaw=0.3")
    shares: dict[str, float] = {}
    for name, share in mix.items():
        source = matrix.resolve_source(name)
        if source in shares:
            raise PGFSelectError(f"mix names source {source} twice ({name!r} is the same task)")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share) or share < 0:
            raise PGFSelectError(f"mix share of {source} must be a finite number ≥ 0, got {share!r}")
        shares[source] = float(share)
    total = sum(shares.values())
    if total <= 0:
        raise PGFSelectError(f"mix shares sum to {total:g}; at least one must be positive")
    target_id = matrix.resolve_target(target)
    setup = Setup(folder, matrix, {s: w / total for s, w in shares.items() if w > 0}, target_id)
    j = setup.target_index
    if not (matrix.n_eval[:, j] * matrix.ceiling[j] - matrix.correct_base[:, j] > 0).any():
        raise PGFSelectError(f"target {target_id}: zero-shot accuracy already equals the ceiling, so PGF is "
                             "undefined there and no proxy can estimate it")
    return setup


def common_seeds(setup: Setup, usable) -> list[str]:
    """The seeds in which every mixed source has a cell (and ``usable(seed)`` holds); refused when none."""
    seeds = [seed for seed in setup.matrix.seeds if setup.cells_exist(seed) and usable(seed)]
    if not seeds:
        raise PGFSelectError(f"no seed has a finished cell of every mixed source ({', '.join(setup.mix)}) "
                             f"towards {setup.target}; measure them first")
    return seeds


@dataclass
class ProxyResult:
    """A proxy's estimate of the PGF a model trained on ``mix`` would reach on ``target``.

    ``pgf``, ``accuracy`` and ``correct`` are per seed (in ``seeds`` order); ``mean`` and
    ``ci`` (95% Student-t over seeds, None with one seed) summarise ``pgf``; ``blend`` is the
    share-weighted seed-mean PGF of the mixed sources' own cells over the same seeds (what the
    planner assumes a mix does), for comparison. ``predictions``: per seed, the proxy's per-item
    records (id, answer, pred, correct and, where options are scored, p).
    """

    kind: str
    folder: str
    target: str
    mix: dict[str, float]
    seeds: list[str]
    correct: list[float]
    n_eval: list[int]
    accuracy: list[float]
    base_accuracy: list[float]
    pgf: list[float]
    mean: float
    ci: tuple[float, float] | None
    blend: float
    options: dict = field(default_factory=dict)
    predictions: dict[str, list[dict]] = field(default_factory=dict, repr=False)

    def to_dict(self, predictions: bool = False) -> dict:
        doc = {k: v for k, v in self.__dict__.items() if k != "predictions"}
        doc["ci"] = None if self.ci is None else list(self.ci)
        doc["note"] = ("an estimate from the measured cells, not a trained mix: verify it with "
                       "`pgfselect train` and `compare`")
        if predictions:
            doc["predictions"] = self.predictions
        return doc

    def summary(self) -> str:
        mix = ", ".join(f"{s} {w:.3f}" for s, w in self.mix.items())
        lines = [f"{self.kind} proxy for {self.target} from {self.folder}", f"mix: {mix}"]
        if self.options:
            lines.append("options: " + ", ".join(f"{k} {v}" for k, v in self.options.items()))
        lines.append(f"{'seed':<10} {'accuracy':>9} {'zero-shot':>9} {'pgf':>8}")
        for seed, acc, base, pgf in zip(self.seeds, self.accuracy, self.base_accuracy, self.pgf):
            lines.append(f"{seed:<10} {acc:>9.3f} {base:>9.3f} {pgf:>8.3f}")
        ci = "" if self.ci is None else f", 95% CI {self.ci[0]:.3f} to {self.ci[1]:.3f}"
        lines.append(f"proxy PGF {self.mean:.3f} (mean of {len(self.seeds)} seed(s){ci}); "
                     f"blend of the sources' own PGF {self.blend:.3f}")
        lines.append("an estimate, not a trained mix: verify with `pgfselect train` and `compare`")
        return "\n".join(lines)


def proxy_result(setup: Setup, kind: str, seeds: list[str], correct: list[float],
           predictions: dict[str, list[dict]], options: dict | None = None) -> ProxyResult:
    """Per-seed correct counts -> PGF against the folder's zero-shot base, with the matrix's formula."""
    m, j = setup.matrix, setup.target_index
    k = [m.seeds.index(s) for s in seeds]
    n_eval, base = m.n_eval[k, j], m.correct_base[k, j]
    pgf, _ = pgf_from_counts(np.asarray(correct, float), base, n_eval, m.ceiling[j])
    mean, lo, hi = mean_t_interval(pgf)
    rows = [m.sources.index(s) for s in setup.mix]
    cells = m.values[np.ix_(k, rows, [j])][:, :, 0]  # [seed, mixed source] PGF of the sources' own cells
    blend = float(np.mean(cells @ np.asarray(list(setup.mix.values()))))
    return ProxyResult(kind=kind, folder=str(setup.folder), target=setup.target, mix=dict(setup.mix), seeds=list(seeds),
                       correct=[int(c) if float(c).is_integer() else float(c) for c in correct],
                       n_eval=[int(n) for n in n_eval], accuracy=[float(c / n) for c, n in zip(correct, n_eval)],
                       base_accuracy=[float(b / n) for b, n in zip(base, n_eval)], pgf=[float(x) for x in pgf],
                       mean=mean, ci=None if lo is None else (lo, hi), blend=blend, options=dict(options or {}),
                       predictions=predictions)
