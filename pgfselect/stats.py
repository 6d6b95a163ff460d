"""Statistics for studies that compare strategies across targets, seeds and items.

Paired, because every arm of a target is scored on the same evaluation items with the same
training seeds: a bootstrap that resamples seeds and items within each target (keeping the arms'
pairing) and averages over targets; a sign test over targets; Holm's step-down correction; and
one-sided tests against a margin for non-inferiority / equivalence (TOST).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


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
        # mean over the resampled seeds of the mean over the resampled items
        out += np.array([d[si[k]][:, ii[k]].mean() for k in range(n_boot)])
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
