"""Statistics for studies that compare strategies across targets, seeds and items.

Paired, because every arm of a target is scored on the same evaluation items with the same
training seeds: a bootstrap that resamples seeds and items within each target (keeping the arms'
pairing) and averages over targets; a sign test over targets; Holm's step-down correction; and
one-sided tests against a margin for non-inferiority / equivalence (TOST).

The one home for interval maths too: Student-t intervals (arrays along an axis, or one sample's
mean), the leave-one-seed-out jackknife interval and the Wilson interval of an accuracy; and the
silencer for numpy's warnings on cells that are NaN on purpose.
"""

from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import numpy as np


@contextmanager
def quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's RuntimeWarnings ('Mean of empty slice', 'Degrees of freedom <= 0'): empty
    and single-seed cells are NaN on purpose. Pair with ``np.errstate`` for the floating-point ones."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def paired_bootstrap(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], n_boot: int = 2000,
                     seed: int = 0) -> np.ndarray:
    """Bootstrap distribution of the mean over targets of (accuracy of a − accuracy of b).

    ``a[t]`` and ``b[t]`` are 0/1 correctness arrays ``[seed, item]`` of the two arms on target t,
    on the same items in the same order. Each replicate resamples seeds and items with
    replacement within every target, the same indices for both arms."""
    rng = np.random.default_rng(seed)
    targets = [t for t in a if t in b]
    out = np.zeros(n_boot)
    for t in targets:
        x, y = np.asarray(a[t], float), np.asarray(b[t], float)
        if x.shape != y.shape:
            raise ValueError(f"target {t}: arms scored on different shapes {x.shape} vs {y.shape}")
        d = x - y
        s, n = d.shape
        si = rng.integers(0, s, (n_boot, s))
        ii = rng.integers(0, n, (n_boot, n))
        # mean over the resampled seeds of the mean over the resampled items (replicate k draws
        # d[si[k]][:, ii[k]]; 0/1 differences sum exactly, so this equals the per-replicate loop)
        out += d[si[:, :, None], ii[:, None, :]].mean(axis=(1, 2))
    return out / max(len(targets), 1)


def sign_test(differences: Sequence[float]) -> dict:
    """Two-sided sign test over targets (ties dropped)."""
    from scipy.stats import binomtest

    d = np.asarray(differences, float)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    p = binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
    return {"wins": wins, "losses": losses, "ties": int((d == 0).sum()), "p": float(p)}


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-adjusted p-values (family-wise error over the given tests)."""
    names = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(names), 0.0, {}
    for k, name in enumerate(names):
        running = max(running, min(1.0, (m - k) * pvalues[name]))
        out[name] = running
    return out


def margin_tests(boot: np.ndarray, margin: float) -> dict:
    """From a bootstrap distribution of a difference: the p-value of non-inferiority
    (H0: difference ≤ −margin), of non-superiority (H0: difference ≥ +margin), and TOST
    equivalence (the larger of the two), with the 90% interval TOST reads."""
    boot = np.asarray(boot, float)
    p_lower = float((np.sum(boot <= -margin) + 1) / (boot.size + 1))
    p_upper = float((np.sum(boot >= margin) + 1) / (boot.size + 1))
    return {"margin": margin, "p_noninferiority": p_lower, "p_equivalence_tost": max(p_lower, p_upper),
            "ci90": [float(np.quantile(boot, 0.05)), float(np.quantile(boot, 0.95))]}


def bootstrap_p_two_sided(boot: np.ndarray) -> float:
    """Two-sided p-value of 'no difference' from a bootstrap distribution (percentile method)."""
    boot = np.asarray(boot, float)
    tail = min(np.sum(boot <= 0), np.sum(boot >= 0))
    return float(min(1.0, 2 * (tail + 1) / (boot.size + 1)))


# ------------------------------------------------------------------ intervals
def t_interval(samples: np.ndarray, level: float = 0.95, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Student-t CI of the mean of ``samples`` along ``axis``; NaN with fewer than 2 samples."""
    samples = np.asarray(samples, dtype=float)
    mean = samples.mean(axis=axis)
    n = samples.shape[axis]
    if n < 2:
        return np.full(mean.shape, np.nan), np.full(mean.shape, np.nan)
    half = t_quantile(level, n - 1) * samples.std(axis=axis, ddof=1) / math.sqrt(n)
    return mean - half, mean + half


def leave_one_seed_out(values: np.ndarray) -> np.ndarray:
    """[seed, ...] the seed mean of ``values[seed, ...]`` without each seed in turn (jackknife
    replicates' inputs); needs at least 2 seeds."""
    n = values.shape[0]
    return (values.sum(axis=0)[None] - values) / (n - 1)


def jackknife_interval(estimate: np.ndarray, replicates: np.ndarray,
                       level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """CI ``estimate ± t(n−1) · SE_jackknife`` from leave-one-seed-out ``replicates[seed, ...]``.

    For a plain mean this is exactly the Student-t interval; for the nonlinear scores (Δ, Θ) it
    keeps the interval centred on the value reported. NaN with fewer than 2 seeds.
    """
    estimate = np.asarray(estimate, dtype=float)
    n = replicates.shape[0]
    if n < 2:
        return np.full(estimate.shape, np.nan), np.full(estimate.shape, np.nan)
    se = np.sqrt((n - 1) / n * ((replicates - replicates.mean(axis=0)) ** 2).sum(axis=0))
    half = t_quantile(level, n - 1) * se
    return estimate - half, estimate + half


def t_quantile(level: float, dof):
    """The two-sided Student-t quantile for a ``level`` interval with ``dof`` degrees of freedom
    (a number, or an array of them)."""
    from scipy import stats  # heavy: loaded on first use

    q = stats.t.ppf(0.5 + level / 2, dof)
    return float(q) if np.ndim(q) == 0 else q


def mean_t_interval(values, level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean and Student-t interval of the mean (None, None with fewer than 2 values)."""
    from scipy import stats  # heavy: loaded on first use

    x = np.asarray(values, float)
    m = float(x.mean())
    if x.size < 2:
        return m, None, None
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def wilson_interval(accuracy: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of an accuracy measured on ``n`` items: the uncertainty that the
    evaluation set alone leaves, whatever the seeds do."""
    from scipy import stats  # heavy: loaded on first use

    z = float(stats.norm.ppf(0.5 + level / 2))
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
