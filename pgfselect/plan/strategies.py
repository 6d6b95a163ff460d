"""The strategy registry: every way pgfselect turns a budget into a training mix, by name.

One entry per strategy: its description and how it allocates. ``pgf`` is the optimiser (the
planner's objective); the rules choose sources in closed form; ``direct`` trains on the target's
own data and ``zero_shot`` trains nothing (a baseline of ``pgfselect train`` only). The planner,
the recipe schema and ``compare`` all read this table; its order is the order of a comparison
table (the mixture first, then the rules from most to least informed, then the references).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import PGFSelectError
from ..names import normalize


@dataclass(frozen=True)
class RuleInputs:
    """What a rule sees: per candidate source, its names, target-weighted mean and shrunk PGF,
    caps, which sources are free (not fixed), and the strategy's parameters."""

    names: list[str]
    mean: np.ndarray
    weight: np.ndarray
    caps: np.ndarray
    free: np.ndarray
    budget: int  # the whole budget (for messages)
    left: int  # the budget after the fixed sources
    k: int
    seed: int
    tau: float


@dataclass(frozen=True)
class Strategy:
    name: str
    description: str
    # Closed-form rule: RuleInputs -> (source weights, notes); None for the optimiser (pgf) and
    # for zero_shot (no mix). Weights are split in proportion, within caps, by the planner.
    rule: Callable[[RuleInputs], tuple[np.ndarray | None, list[str]]] | None = None
    planned: bool = True  # MixturePlanner can make its mix (False: zero_shot)


def _paper(inp: RuleInputs):
    w = np.where(inp.free & (inp.mean > inp.tau), inp.mean, 0.0)
    if not (w > 0).any():
        if inp.mean.max() <= 0:
            return None, []
        best = inp.names[int(np.argmax(inp.mean))]
        raise PGFSelectError(f"no source has mean PGF above tau={inp.tau} for this target "
                             f"(best: {best} at {inp.mean.max():.3f}); lower tau")
    return w, []


def _pick(strategy: str):
    def rule(inp: RuleInputs):
        idx = np.flatnonzero(inp.free)
        notes = []
        if strategy in ("top_k", "random") and inp.k > len(idx):
            notes.append(f"k={inp.k} is more than the {len(idx)} candidate source"
                         f"{'' if len(idx) == 1 else 's'}: strategy {strategy} uses them all")
        if strategy in ("uniform", "direct"):
            chosen = idx
        elif strategy == "random":
            chosen = np.random.default_rng(inp.seed).choice(idx, size=min(inp.k, len(idx)), replace=False)
        else:
            k = 1 if strategy == "best_single" else inp.k
            chosen = idx[np.argsort(-inp.weight[idx], kind="stable")][:k]
        w = np.zeros(len(inp.names))
        w[chosen] = 1.0
        if inp.caps[chosen].sum() < inp.left - 0.5 and strategy in ("best_single", "top_k", "random"):
            names = ", ".join(inp.names[i] for i in chosen)
            raise PGFSelectError(f"strategy {strategy}: {names} have only {int(inp.caps[chosen].sum())} "
                                 f"examples available, below the budget {inp.budget}")
        return w, notes

    return rule


_ENTRIES = [
    Strategy("pgf", "the optimiser: expected PGF of the mix minus κ standard errors (or --objective saturating)"),
    Strategy("paper", "the paper's rule: sources with mean PGF > τ, examples in proportion to PGF", _paper),
    Strategy("top_k", "the k sources with the highest shrunk PGF, equal split", _pick("top_k")),
    Strategy("best_single", "the whole budget on the single best source", _pick("best_single")),
    Strategy("uniform", "every candidate source, equal split (ignores PGF)", _pick("uniform")),
    Strategy("random", "k random candidate sources (seeded: a new draw per training seed), equal split",
             _pick("random")),
    Strategy("direct", "the target's own training data only (direct finetuning)", _pick("direct")),
    Strategy("zero_shot", "no training: the base model as it is", planned=False),
]
REGISTRY: dict[str, Strategy] = {s.name: s for s in _ENTRIES}
# name -> description of what the planner can plan, and of everything a recipe can run
PLANNER_STRATEGIES = {s.name: s.description for s in _ENTRIES if s.planned}
RECIPE_STRATEGIES = {s.name: s.description for s in _ENTRIES}
ORDER = tuple(REGISTRY)

_ALIASES = {normalize(s.name): s.name for s in _ENTRIES} | {"randomk": "random", "targetonly": "direct"}


def canonical_strategy(name: str, *, allow_zero_shot: bool = False) -> str:
    """A strategy's canonical name ('Top-K', 'topk' -> 'top_k'); errors name the valid ones.
    ``zero_shot`` trains nothing, so only a recipe (``allow_zero_shot``) accepts it."""
    key = _ALIASES.get(normalize(str(name)))
    if key == "zero_shot" and not allow_zero_shot:
        raise PGFSelectError("strategy 'zero_shot' trains nothing, so it has no mixture to plan; "
                             "it is a baseline of `pgfselect train`")
    if key is None:
        valid = RECIPE_STRATEGIES if allow_zero_shot else PLANNER_STRATEGIES
        raise PGFSelectError(f"unknown strategy {name!r}; valid: {', '.join(valid)}")
    return key


def table_rank(strategy: str) -> tuple:
    """Sort key of a comparison table: registry order, unknown names first."""
    return (ORDER.index(strategy) if strategy in ORDER else -1, strategy)
