"""How uncertain is each cell's seed-mean PGF? A variance that is sound with 2-4 seeds.

Two seeds give a one-degree-of-freedom estimate of a cell's seed variance: half of such
estimates are below a third of the truth, so a planner that trusts them raw favours whichever
source happened to land twice on the same number. The standard cure (Smyth 2004, the
``squeezeVar`` of limma) is empirical Bayes: treat the cells' true variances as draws from a
scaled inverse-χ² prior whose scale s0² and degrees of freedom d0 are estimated from all cells of
the matrix at once (method of moments on log variances), and use each cell's posterior variance

    s̃² = (d0 · s0² + d · s²) / (d0 + d),        d = seeds − 1.

When the cells' spread is no wider than sampling noise alone explains, d0 = ∞ and every cell gets
the pooled s0². With one seed nothing can be pooled; if the matrix has correct counts, the
binomial sampling variance of the fine-tuned accuracy is used as a floor (evaluation noise only:
it leaves out training noise, so it understates), else the variance is unknown (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..matrix import MEASURED, PGFMatrix
from ..stats import quiet_nan_warnings


@dataclass
class CellVariance:
    """Per-cell variance estimates, ``[source, target]`` arrays."""

    seed_var: np.ndarray  # posterior variance of one seed's PGF (NaN where unknown)
    mean_var: np.ndarray  # variance of the seed mean: seed_var / seeds
    prior_scale: float | None  # s0²
    prior_df: float | None  # d0 (inf: fully pooled)
    method: str  # "empirical_bayes", "binomial" or "none"


def cell_variance(matrix: PGFMatrix) -> CellVariance:
    """Empirical-Bayes variances of every measured cell of ``matrix``."""
    n = matrix.n_seeds_measured()
    sd = matrix.std()
    df = np.maximum(n - 1, 0).astype(float)
    ok = (df >= 1) & np.isfinite(sd)
    if ok.sum() >= 3:
        s2 = np.where(ok, sd**2, np.nan)
        s0, d0 = _prior(s2[ok], df[ok])
        if np.isinf(d0):
            post = np.full(n.shape, s0)
        else:
            post = (d0 * s0 + df * np.nan_to_num(s2)) / (d0 + df)
        post = np.where(n >= 1, post, np.nan)
        # Cells measured by a single seed in an otherwise multi-seed matrix get the prior alone.
        post = np.where(ok | (n != 1), post, s0)
        return CellVariance(post, post / np.maximum(n, 1), float(s0), float(d0), "empirical_bayes")
    binom = _binomial(matrix)
    if binom is not None:
        return CellVariance(binom, binom / np.maximum(n, 1), None, None, "binomial")
    nan = np.full(n.shape, np.nan)
    return CellVariance(nan, nan, None, None, "none")


def _prior(s2: np.ndarray, df: np.ndarray) -> tuple[float, float]:
    """Smyth's moment estimates of the prior scale s0² and degrees of freedom d0 from sample
    variances ``s2`` with ``df`` degrees of freedom each."""
    from scipy.special import digamma, polygamma

    positive = s2[s2 > 0]
    # A zero variance (two seeds on the same count) would make its log -inf; floor it far below
    # the typical cell instead of dropping it, as limma offsets tiny variances.
    floor = 1e-4 * np.median(positive) if positive.size else 1e-12
    z = np.log(np.maximum(s2, floor))
    e = z - digamma(df / 2) + np.log(df / 2)
    e_mean = float(e.mean())
    excess = float(np.var(e, ddof=1) - np.mean(polygamma(1, df / 2)))
    if excess <= 0:
        return float(np.exp(e_mean)), float("inf")
    d0 = 2 * _trigamma_inverse(excess)
    s0 = float(np.exp(e_mean + digamma(d0 / 2) - np.log(d0 / 2)))
    return s0, float(d0)


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (Newton's method in Smyth's parametrisation)."""
    from scipy.special import polygamma

    if y > 1e7:
        return 1 / np.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = float(polygamma(1, x))
        step = tri * (1 - tri / y) / float(polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return float(x)


def _binomial(matrix: PGFMatrix) -> np.ndarray | None:
    """Evaluation-noise variance of each cell's PGF from its counts: p(1−p)/n over the squared
    headroom, p the fine-tuned accuracy (the base is shared by every source, so its noise
    shifts all cells of a target alike and is left out)."""
    if matrix.correct_ft is None or matrix.n_eval is None or matrix.correct_base is None:
        return None
    with np.errstate(invalid="ignore", divide="ignore"), quiet_nan_warnings():
        n = matrix.n_eval[:, None, :]
        p = matrix.correct_ft / n
        base = matrix.correct_base[:, None, :] / n
        head = matrix.ceiling[None, None, :] - base
        var = p * (1 - p) / n / head**2
        var = np.where(matrix.status == MEASURED, var, np.nan)
        out = np.nanmean(var, axis=0) if np.isfinite(var).any() else None
    return out
