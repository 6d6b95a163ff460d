"""What a planned mix should give its targets: the ``expected`` field of a plan.

Both estimates treat a mix as a *blend* of its sources — its PGF is the share-weighted PGF of
the sources — which is how measured two-source mixes behave (benchmarks/RESULTS.md, "Does
transfer add up?"). They differ in what they say about the budget:

- :func:`blend_expected` (the ``mean_variance`` objective) takes each source's PGF as measured,
  at the matrix's training size, with a 95% interval from the cells' standard errors: exactly
  the quantity the objective maximises, before its κ penalty.
- :func:`saturating_expected` (the ``saturating`` objective) scales each source to the budget with
  g(x) = log(1 + x/s) / log(1 + r/s) and gives a range up to compounding.
"""

from __future__ import annotations

import math

import numpy as np

from ..matrix import PGFMatrix

Z95 = 1.959964


def _with_accuracy(entry: dict, matrix: PGFMatrix, j: int) -> dict:
    base = matrix.base_accuracy()
    if base is not None and matrix.ceiling is not None:
        b = float(np.nanmean(base[:, j]))
        u = float(matrix.ceiling[j])
        entry["zero_shot_accuracy"] = round(b, 4)
        entry["accuracy"] = round(b + entry["pgf"] * (u - b), 4)
    return entry


def _weighted(per_target: dict, targets: dict, key: str, k: int | None = None) -> float:
    pick = (lambda e: e[key]) if k is None else (lambda e: e[key][k])
    return round(sum(pick(per_target[t]) * w for t, w in targets.items()), 4)


def blend_expected(matrix: PGFMatrix, allocation: dict, mean: np.ndarray, se: np.ndarray,
                   targets: dict, tcols: list[int]) -> dict:
    """Σ_i w_i · mean_i per target with its standard error √(Σ_i w_i² se_i²) and a 95% interval."""
    budget = float(sum(allocation.values()))
    ref = matrix.provenance.get("examples_per_task")
    per_target = {}
    for t, j in zip(targets, tcols):
        rows = {n: matrix.sources.index(n) for n in allocation}
        contrib = {n: allocation[n] / budget * float(mean[i, j]) for n, i in rows.items()}
        pgf = sum(contrib.values())
        err = math.sqrt(sum((allocation[n] / budget * float(se[i, j])) ** 2 for n, i in rows.items()))
        entry = {"pgf": round(pgf, 4), "std_error": round(err, 4),
                 "range": [round(pgf - Z95 * err, 4), round(pgf + Z95 * err, 4)],
                 "per_source": {n: round(v, 4) for n, v in contrib.items()}}
        per_target[t] = _with_accuracy(entry, matrix, j)
    size = f"{ref:g} examples per source" if isinstance(ref, (int, float)) else "the matrix's training size"
    return {"targets": per_target, "pgf": _weighted(per_target, targets, "pgf"),
            "std_error": _weighted(per_target, targets, "std_error"),
            "range": [_weighted(per_target, targets, "range", 0), _weighted(per_target, targets, "range", 1)],
            "assumptions": f"the mix as a blend of its sources (the share-weighted PGF, as measured two-source "
                           f"mixes behave), each source's PGF as measured at {size}; range: 95% interval "
                           f"from the cells' standard errors; an estimate that `pgfselect train` verifies"}


def saturating_expected(matrix: PGFMatrix, allocation: dict, mean: np.ndarray, targets: dict,
                        tcols: list[int], saturation: float, reference: float) -> dict:
    """Σ_i (x_i/B) · mean_i · g(B), each source's PGF at the whole budget weighted by its share,
    with g(x) = log(1 + x/s) / log(1 + r/s) and r the examples per source the matrix was measured
    at. ``range`` runs from the blend to compounding, 1 − Π_i (1 − mean_i · g(x_i)): each source
    closing its share of the gap the others left, what transfer would give if it did add up (and,
    unlike the sum, never above 1)."""
    s, ref = float(saturation), float(reference)

    def g(x):
        return math.log1p(x / s) / math.log1p(ref / s)

    budget = float(sum(allocation.values()))
    per_target = {}
    for t, j in zip(targets, tcols):
        cell = {n: float(mean[matrix.sources.index(n), j]) for n in allocation}
        blend = {n: x / budget * cell[n] * g(budget) for n, x in allocation.items()}
        compounding = 1 - math.prod(1 - min(cell[n] * g(x), 1.0) for n, x in allocation.items())
        pgf = sum(blend.values())
        entry = {"pgf": round(pgf, 4), "range": [round(min(pgf, compounding), 4), round(max(pgf, compounding), 4)],
                 "per_source": {n: round(v, 4) for n, v in blend.items()}}
        per_target[t] = _with_accuracy(entry, matrix, j)
    return {"targets": per_target, "pgf": _weighted(per_target, targets, "pgf"),
            "range": [_weighted(per_target, targets, "range", 0), _weighted(per_target, targets, "range", 1)],
            "assumptions": f"the mix as a blend of its sources (as measured two-source mixes behave); "
                           f"up to the range's top if transfer adds up; log saturation s={s:g}, matrix "
                           f"measured at {ref:g} examples per source; a rough estimate, not a promise"}
