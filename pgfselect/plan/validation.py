"""Out-of-sample value of a planning rule: plan on all seeds but one, score on the one left out.

A plan chosen on a matrix looks good on that matrix by construction (the winner's curse of picking
the largest of noisy means). Its honest value is what the held-out seed says the chosen mix gives
— under the blend model, the share-weighted PGF of the mix on that seed's cells. A plan that says
nothing helps scores 0 (zero-shot). This is how the planner's default κ was chosen.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import PGFSelectError
from ..matrix import PGFMatrix
from .planner import NO_HELPFUL_SOURCE, MixturePlanner


def drop_seed(matrix: PGFMatrix, k: int) -> PGFMatrix:
    """``matrix`` without its ``k``-th seed (counts and provenance kept)."""
    keep = [i for i in range(len(matrix.seeds)) if i != k]

    def take(a):
        return None if a is None else np.asarray(a)[keep]

    return dataclasses.replace(matrix, seeds=tuple(matrix.seeds[i] for i in keep), values=matrix.values[keep],
                               status=matrix.status[keep], n_eval=take(matrix.n_eval),
                               correct_base=take(matrix.correct_base), correct_ft=take(matrix.correct_ft))


def held_out_value(plan: dict, matrix: PGFMatrix, seed: int, target: str) -> float:
    """Share-weighted PGF of ``plan``'s mix towards ``target`` on seed index ``seed``."""
    if plan["status"] == NO_HELPFUL_SOURCE:
        return 0.0
    j = matrix.targets.index(target)
    budget = sum(plan["allocation"].values())
    return float(sum(n / budget * matrix.values[seed, matrix.sources.index(src), j]
                     for src, n in plan["allocation"].items()))


def leave_one_seed_out(matrix: PGFMatrix, target: str, budget, **planner_kw) -> list[float]:
    """Held-out value of the plan for ``target`` in each fold (one per seed, where the target's
    column is measured in that seed). Needs at least two seeds."""
    if len(matrix.seeds) < 2:
        raise PGFSelectError("leave-one-seed-out needs a matrix with at least two seeds")
    target = matrix.resolve_target(target)
    j = matrix.targets.index(target)
    out = []
    for k in range(len(matrix.seeds)):
        column = matrix.values[k, :, j]
        if not np.isfinite(np.delete(column, matrix.sources.index(target)) if target in matrix.sources
                           else column).all():
            continue
        plan = MixturePlanner(target, budget, **planner_kw).fit(drop_seed(matrix, k)).to_dict()
        out.append(held_out_value(plan, matrix, k, target))
    return out
