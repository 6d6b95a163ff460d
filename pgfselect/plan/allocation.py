"""How the planner splits a budget among its candidate sources: the optimiser (mean-variance,
saturating, or a fitted mixture response) or a closed-form rule of the strategy registry, rounded
to whole examples within the caps; and why a source got nothing."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import PGFSelectError
from .optimizer import proportional, round_allocation, solve, solve_mean_variance
from .strategies import REGISTRY, RuleInputs


@dataclass
class _Inputs:
    """Per-candidate numbers the strategies work from (internal)."""

    names: list[str]
    mean: np.ndarray  # target-weighted seed-mean PGF
    weight: np.ndarray  # target-weighted shrunk PGF
    caps: np.ndarray
    se: np.ndarray  # standard error of the target-weighted mean (the mean-variance objective's σ)


class Allocation:
    """The allocation half of :class:`~pgfselect.plan.planner.MixturePlanner` (a mixin: it reads
    the planner's parameters and sets its ``solver_``, ``status_``, ``notes_``, ``excluded_``)."""

    def _allocate(self, inp: _Inputs, budget: int, fixed: dict[str, int]) -> dict[str, int]:
        free = np.array([n not in fixed for n in inp.names])
        caps = np.where(free, inp.caps, 0.0)
        strategy = self.strategy_
        self.solver_, self.status_ = "rule", "optimal (closed-form rule)"
        if budget == 0:
            return dict(fixed)
        if strategy == "pgf" and self.objective == "saturating":
            w = np.where(free, inp.weight, 0.0)
            if not (w > 0).any():
                return None
            x, self.solver_, self.status_ = solve(w, budget, caps, float(self.saturation), self.solver)
            priority = w
        elif strategy == "pgf" and self.mixture_model is not None:
            x = self._model_shares(inp, free, caps, fixed)
            if x is None:
                return None
            x, priority = x * self.budget_, inp.mean
        elif strategy == "pgf":
            x = self._mean_variance_shares(inp, free, caps, fixed)
            if x is None:
                return None
            x, priority = x * self.budget_, inp.mean
        else:  # a closed-form rule of the registry
            w, notes = REGISTRY[strategy].rule(RuleInputs(inp.names, inp.mean, inp.weight, inp.caps, free,
                                                          self.budget_, budget, self.k, self.seed, self.tau))
            self.notes_.extend(notes)
            if w is None:
                return None
            x, priority = proportional(w, budget, caps), (w if strategy == "paper" else inp.weight)
        ints = round_allocation(x, budget, caps, priority)
        out = {n: int(v) for n, v in zip(inp.names, ints)}
        for n, v in fixed.items():
            out[n] = out.get(n, 0) + v
        return out

    def _model_shares(self, inp: _Inputs, free: np.ndarray, caps: np.ndarray, fixed: dict):
        """Shares that maximise the mixture response (fitted, or a proxy's) over the sources it
        knows, or None when its best mix is not predicted to help."""
        model = self.mixture_model
        if len(self.targets_) > 1 or (model.target_ and model.target_ not in self.targets_):
            raise PGFSelectError(f"the mixture model was fitted for target {model.target_!r}; plan that one target")
        known = [n for n in inp.names if n in model.sources_ and (free[inp.names.index(n)] or n in fixed)]
        for n in inp.names:
            if n not in model.sources_:
                self.excluded_[n] = "not in the mixture model (no trained mix used it)"
        if not known:
            raise PGFSelectError("no candidate source is in the mixture model; fit it on runs that use these sources")
        order = [model.sources_.index(n) for n in known]
        share_caps = np.zeros(len(model.sources_))
        for n, k in zip(known, order):
            share_caps[k] = caps[inp.names.index(n)] / self.budget_
        fixed_idx = {model.sources_.index(n): v / self.budget_ for n, v in fixed.items() if n in model.sources_}
        w = model.best_shares(share_caps, fixed=fixed_idx)
        self.model_prediction_ = float(model.predict(w)[0])
        self.solver_, self.status_ = model.solver, model.status
        if self.model_prediction_ <= 0 and not fixed:
            return None
        out = np.zeros(len(inp.names))
        for n, k in zip(known, order):
            if n not in fixed:
                out[inp.names.index(n)] = w[k]
        return out

    def _mean_variance_shares(self, inp: _Inputs, free: np.ndarray, caps: np.ndarray, fixed: dict):
        """Shares of the whole budget for the free sources, or None when no mix is expected to
        help (its expected PGF minus κ standard errors is not above zero)."""
        mu = np.where(free, inp.mean, 0.0)
        if not (mu > 0).any():
            if fixed:
                raise PGFSelectError(f"besides the fixed sources ({', '.join(fixed)}), no candidate source is "
                                     "expected to help; fix the whole budget or lower it")
            return None
        idx = [inp.names.index(n) for n in fixed]
        f_shares = np.array([fixed[n] / self.budget_ for n in fixed])
        shares, self.solver_, self.status_ = solve_mean_variance(
            mu, inp.se, self.budget_, caps, float(self.kappa), fixed_shares=f_shares,
            fixed_sigma=inp.se[idx], solver=self.solver)
        total = np.zeros_like(shares)
        total[idx] = f_shares
        total += shares
        value = float(inp.mean @ total - self.kappa * np.sqrt(np.sum((inp.se * total) ** 2)))
        if value <= 0 and not fixed:
            return None
        return shares

    def _why_not(self, inp: _Inputs, name: str) -> str:
        i = inp.names.index(name)
        mean, weight = inp.mean[i], inp.weight[i]
        if self.strategy_ == "pgf":
            if mean < 0:
                return f"negative transfer (mean {mean:+.3f})"
            if mean == 0:
                return "no transfer (mean +0.000)"
            if weight <= 0 and self.objective == "saturating":
                return f"not reliably helpful (shrunk {weight:+.3f}, κ={self.kappa:g})"
            if self.objective == "mean_variance" and self.kappa == 0:
                return f"a source with a higher mean PGF takes the budget (mean {mean:+.3f})"
            if self.objective == "mean_variance":
                return f"not worth its uncertainty beside the chosen (mean {mean:+.3f} ± {inp.se[i]:.3f}, κ={self.kappa:g})"
            return f"too weak for this budget (shrunk {weight:+.3f})"
        if self.strategy_ == "paper":
            return f"mean PGF {mean:+.3f} ≤ τ={self.tau:g}"
        return f"not chosen by strategy {self.strategy_}"
