"""The completion model's pieces: constants, the design of the off-diagonal regression, the ridge
fit, calibration factors, task-metadata similarity and the name matching shared by completer and
suggest."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PGFSelectError
from ..matrix import PGFMatrix
from ..names import BLINK_TASKS, blink_tasks, resolve
from ..stats import quiet_nan_warnings

MIN_OVERLAP = 3  # tasks a prior must share with the matrix to be usable
# Ridge strengths tried by cross-validation: row effects, column effects, prior coefficients.
ROW_ALPHAS = (3.0, 10.0, 30.0, 100.0)
COL_ALPHAS = (0.1, 0.3, 1.0)
PRIOR_ALPHAS = (0.3, 3.0, 30.0)
DEFAULT_ALPHA = (30.0, 0.3, 3.0)  # used when too few cells are measured to cross-validate
SPREAD_PSEUDO = 3.0  # pseudo-cells pulling a column's residual spread towards the pooled one
# Calibration factor for the priors-only case (no measured off-diagonal cell, so no residual to
# learn from): the conformal 90% quantile of |truth − priors| / prior_only_scale over every
# published matrix predicted from the others, singly and together, divided by 1.645
# (benchmarks/prediction.py, `prior_only_factor`; it varies from 0.6 to 1.8 across those cases).
PRIOR_ONLY_FACTOR = 1.35
# With no residuals of its own, the no-measured-column regime is this much wider than the other.
UNSEEN_INFLATION = 1.6
# Within-column correlation of sources between models, the value c_Z is shrunk towards.
PRIOR_CORRELATION = 0.3
# Task attributes whose agreement makes the similarity regressor, and its ridge strength (in
# squared PGF per shared attribute: strong, so a few cells cannot make it large; the effect on the
# published matrices is +0.01 to +0.07 PGF for a shared level, image count or answer format).
SIMILARITY_FIELDS = ("level", "granularity", "n_images", "n_choices")
SIMILARITY_ALPHA = 100.0
# Fewer held-out residuals than this in a regime: its factor falls back on the other regime's
# (× or ÷ UNSEEN_INFLATION), and the residual scale on FALLBACK_SCALE at least.
MIN_RESIDUALS = 8
# Residual scale assumed when too few cells are measured to estimate one: about the off-diagonal
# cross-validated residual RMS of the additive model on the published matrices (see calibration_).
FALLBACK_SCALE = 0.2
# Self-transfer spread on the published matrices (sd ≈ 0.25 within each): the least std of a
# predicted diagonal cell when fewer than 5 diagonal cells are measured.
DIAG_MIN_SD = 0.25



@dataclass(frozen=True)
class _Design:
    """What the off-diagonal regression sees: values, masks and prior features on [source, target]."""

    y: np.ndarray  # seed-mean PGF, NaN where not measured
    obs: np.ndarray  # measured off-diagonal cells (the training set)
    offdiag: np.ndarray  # cells whose source is not the target
    level: np.ndarray | None  # priors' column level L_j broadcast to [source, target]
    rank: np.ndarray | None  # priors' within-column z-score Z_ij (mean over priors)
    similarity: np.ndarray | None  # task-metadata similarity S_ij (see task_similarity)



def _resolve_target(target: str, matrix: PGFMatrix, priors: Sequence[PGFMatrix]) -> str:
    try:
        return resolve(target, matrix.targets, "target")
    except PGFSelectError:
        in_prior = any(_try_resolve(target, p.targets) for p in priors)
        where = "the matrix (priors have it, but a new target needs its column in the matrix)" if in_prior \
            else "the matrix or any prior"
        raise PGFSelectError(f"target {target!r} is absent from {where}; matrix targets: "
                             f"{', '.join(matrix.targets)}") from None


def _try_resolve(name: str, valid) -> str | None:
    try:
        return resolve(name, valid)
    except PGFSelectError:
        return None


def _match_names(mine: Sequence[str], theirs: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each of ``mine`` to a name in ``theirs`` (exact, alias, or without a 'suite:' prefix)."""
    out, missing = {}, []
    for name in mine:
        hit = _try_resolve(name, theirs) or (_try_resolve(name.split(":", 1)[1], theirs) if ":" in name else None)
        if hit is None:
            missing.append(name)
        else:
            out[name] = hit
    return out, missing


def prior_only_scale(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """Per-target error scale of the priors' value used as is: models differ both in a column's
    level (its spread over targets) and in the order within it (the column's spread), hence
    sqrt(column sd² + overall sd²) of the priors' off-diagonal cells."""
    qs = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore"), quiet_nan_warnings():
        col_sd = np.nanstd(qs, axis=0, ddof=1)
        overall = float(np.nanstd(qs))
    col_sd = np.where(np.isfinite(col_sd), col_sd, overall)
    return np.sqrt(col_sd ** 2 + overall ** 2)


def _prior_level(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """The priors' column level (mean off-diagonal PGF per target), broadcast to the matrix."""
    qo = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore"), quiet_nan_warnings():
        lvl = np.nanmean(qo, axis=0)
    lvl = np.where(np.isfinite(lvl), lvl, np.nanmean(lvl) if np.isfinite(lvl).any() else 0.0)
    return np.broadcast_to(lvl[None, :], q.shape).copy()


def _column_z(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    qo = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), quiet_nan_warnings():
        sd = np.nanstd(qo, axis=0)
        return (qo - np.nanmean(qo, axis=0)) / np.where(sd > 0, sd, np.nan)


def _column_spread(y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Within-column sd of the ``train`` cells, pulled towards the pooled one (few cells each)."""
    n = train.sum(axis=0)
    vals = np.where(train, y, 0.0)
    mean = vals.sum(axis=0) / np.maximum(n, 1)
    ss = (np.where(train, y - mean, 0.0) ** 2).sum(axis=0)
    dof = np.maximum(n - 1, 0)
    pooled = ss.sum() / dof.sum() if dof.sum() else 0.0
    return np.sqrt((ss + SPREAD_PSEUDO * pooled) / (dof + SPREAD_PSEUDO))


def _extra(d: _Design, spread: np.ndarray | None) -> list[tuple[np.ndarray, float | None, float]]:
    """Regressors beyond μ + a_i + b_j as (feature [source, target], ridge strength or None for
    the CV-chosen prior one, value the coefficient is shrunk towards)."""
    out = []
    if d.level is not None:
        out += [(d.level, None, 0.0), (spread[None, :] * d.rank, None, PRIOR_CORRELATION)]
    if d.similarity is not None:
        out.append((d.similarity, SIMILARITY_ALPHA, 0.0))
    return out


def _fit(d: _Design, train: np.ndarray, alpha):
    """Ridge fit of μ + a_i + b_j (+ c_L·L_j + c_Z·s_j·Z_ij) (+ c_S·S_ij) on the ``train`` cells.
    s_j is the target column's own spread, so c_Z reads as a correlation. Row/column effects, c_L
    and c_S are shrunk towards 0, c_Z towards PRIOR_CORRELATION (what the published matrices
    show), so that a few cells cannot talk the model out of the priors' ranking.
    Returns (coefficients [μ, a, b, extras], s).

    Solved here rather than with scikit-learn's Ridge: each block has its own penalty (rows,
    columns, priors, an unpenalised mean) and c_Z shrinks towards a non-zero target, which Ridge
    (one alpha, shrinkage towards 0) does not express; the 3-D penalty grid is cross-validated on
    MAE by hidden cells, and the same folds calibrate the std (scikit-learn is used where it fits:
    the mixture-response regression, plan/mixture_model.py)."""
    ns, nt = train.shape
    ii, jj = np.nonzero(train)
    spread = _column_spread(d.y, train) if d.level is not None else None
    extra = _extra(d, spread)
    A = np.zeros((len(ii), 1 + ns + nt + len(extra)))
    A[:, 0] = 1.0
    A[np.arange(len(ii)), 1 + ii] = 1.0
    A[np.arange(len(ii)), 1 + ns + jj] = 1.0
    for k, (feature, _, _) in enumerate(extra):
        A[:, 1 + ns + nt + k] = feature[ii, jj]
    a_row, a_col, a_prior = alpha
    pen = np.r_[1e-6, np.full(ns, a_row), np.full(nt, a_col),
                [a_prior if strength is None else strength for _, strength, _ in extra]]
    target = np.r_[np.zeros(1 + ns + nt), [toward for _, _, toward in extra]]
    lhs = A.T @ A + np.diag(pen)
    rhs = A.T @ d.y[ii, jj] + pen * target
    return np.linalg.solve(lhs, rhs), spread


def task_similarity(sources: Sequence[str], targets: Sequence[str]) -> np.ndarray | None:
    """[source, target] how many of perceptual level, granularity, number of images and number of
    choices two BLINK tasks share (from data/blink_tasks.csv; 'suite:Name' maps through Name),
    centred over the known off-diagonal pairs; 0 where a task is not a BLINK task. None when no
    pair is known. Tasks alike in these ways transfer a little better on all three published
    matrices; the model learns how much from the measured cells."""
    meta = blink_tasks()

    def info(name):
        hit = _try_resolve(name.split(":", 1)[-1], BLINK_TASKS)
        return None if hit is None else meta[hit]

    si, ti = [info(s) for s in sources], [info(t) for t in targets]
    sim = np.full((len(sources), len(targets)), np.nan)
    for i, a in enumerate(si):
        for j, b in enumerate(ti):
            if a is not None and b is not None and a.name != b.name:
                sim[i, j] = sum(getattr(a, f) == getattr(b, f) for f in SIMILARITY_FIELDS)
    if not np.isfinite(sim).any():
        return None
    return np.where(np.isfinite(sim), sim - np.nanmean(sim), 0.0)


def _without(mask: np.ndarray, cells: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[tuple(cells.T)] = False
    return out


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    k = max(2, min(k, n)) if n >= 2 else 1
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[f::k] for f in range(k)] if n >= 2 else [perm]


def _factor(ratio: np.ndarray, coverage: float, z: float) -> float | None:
    """z-units per spread unit: the split-conformal quantile of |residual| / spread, i.e. the
    ⌈(n + 1)·coverage⌉-th smallest of n, which stays honest with a few dozen residuals where the
    plain empirical quantile under-covers."""
    n = len(ratio)
    if n < MIN_RESIDUALS:
        return None
    k = min(n, math.ceil((n + 1) * coverage))
    return float(np.sort(ratio)[k - 1] / z)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _npdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _num(x) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)
