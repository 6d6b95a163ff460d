"""MixturePlanner: how many training examples to take from each source task for a target.

For source i and targets t with weights W_t (summing to 1), μ_i = Σ_t W_t · mean_it is the
seed-mean PGF towards the targets and σ_i its standard error (empirical-Bayes pooled seed
variances, :mod:`.variance`; the predictive std for cells predicted by ``--complete``).

The ``pgf`` strategy's default objective, ``mean_variance``, treats a mix as a blend of its
sources (what measured mixes do: benchmarks/RESULTS.md, "Does transfer add up?") and maximises
μᵀw − κ·‖σ ⊙ w‖ over the shares w: the budget goes to the best source, and spreads only over
sources whose PGF is statistically tied with it. ``saturating`` is the older Σ w_i log(1 + x_i/s)
with w_i = μ_i − κ·sem_i. Sources with no positive value get nothing (negative-transfer guard);
when none has any, the plan's status is ``no_helpful_source`` and it recommends direct
finetuning or zero-shot instead. Baseline strategies split the same budget by simple rules.
"""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np

from ..errors import PGFSelectError
from ..estimator import Estimator, interval, one_of, whole
from ..fileio import to_jsonable
from ..matrix import PGFMatrix
from ..names import normalize
from ..version import __version__
from .allocation import Allocation, _Inputs
from .budget import parse_examples
from .checks import check_solver
from .expected import blend_expected, saturating_expected
from .strategies import PLANNER_STRATEGIES, canonical_strategy
from .variance import cell_variance

# Chosen by leave-one-seed-out value on the published and synthetic matrices (benchmarks/RESULTS.md,
# "planner_oos"): the default must beat the best single source out of sample, not in sample.
DEFAULT_KAPPA = 0.0

OBJECTIVES = {
    "mean_variance": "maximise the mix's expected PGF minus κ standard errors (a mix as a blend of its sources)",
    "saturating": "maximise Σ w·log(1 + x/s) with w = mean − κ·sem (diminishing returns per source)",
}
NO_HELPFUL_SOURCE = "no_helpful_source"
STRATEGIES = PLANNER_STRATEGIES  # name -> description (the registry: plan/strategies.py)


class MixturePlanner(Estimator, Allocation):
    """Plan a mixture of source tasks for one or several targets under a budget of examples.

    Parameters are only stored here; :meth:`fit` does the work (scikit-learn style). After
    ``fit``: ``allocation_`` (source → examples, summing to the budget), ``excluded_`` (source →
    reason), ``weights_`` (source → shrunk weight), ``solver_``, ``status_``, ``expected_``,
    ``targets_`` (canonical target → weight), ``budget_``, ``notes_``.

    Parameters
    ----------
    target: a target name, or a mapping name → weight for several targets.
    budget: training examples (int or a string such as "2k").
    strategy: one of :data:`STRATEGIES`.
    objective: of strategy ``pgf``, one of :data:`OBJECTIVES` (default ``mean_variance``).
    kappa: uncertainty aversion κ: standard errors subtracted from the mix's expected PGF
        (``mean_variance``) or from each source's mean (``saturating`` and the ranking rules);
        0 trusts the means as they are.
    saturation: ``saturating`` only: s in log(1 + x/s), in examples: the marginal value of a
        source halves after about s examples; smaller s spreads the budget.
    available: source → examples available (caps); key "default" sets the cap of the others.
    exclude / include: sources never to use / the only sources to consider.
    fix: source → examples to take exactly (taken out of the budget first).
    target_examples: examples of the target's own data that may be used (0 = none, the default).
    tau, k, seed: threshold of ``paper``; number of sources of ``top_k``/``random``; RNG seed of
        ``random``.
    reference_examples: training-set size at which the matrix was measured (for ``expected_``);
        default: the matrix provenance's ``examples_per_task``, else 1000.
    mixture_model: an optional fitted :class:`~.mixture_model.MixtureResponse` or
        :class:`~pgfselect.proxy.ProxyResponse` for the target: strategy ``pgf`` then maximises its
        response instead of the blend (sources it does not know are left out).
    """

    _parameter_constraints = {
        "objective": one_of(*OBJECTIVES), "kappa": interval(0), "saturation": interval(0, closed="right"),
        "tau": interval(), "k": whole(1), "seed": whole(0), "target_examples": whole(0),
    }

    def __init__(self, target, budget, *, strategy="pgf", objective="mean_variance", kappa=DEFAULT_KAPPA,
                 saturation=500.0, available=None,
                 exclude=(), include=None, fix=None, target_examples=0, tau=0.05, k=3, seed=0,
                 solver=None, reference_examples=None, mixture_model=None):
        self.target = target
        self.budget = budget
        self.strategy = strategy
        self.objective = objective
        self.kappa = kappa
        self.saturation = saturation
        self.available = available
        self.exclude = exclude
        self.include = include
        self.fix = fix
        self.target_examples = target_examples
        self.tau = tau
        self.k = k
        self.seed = seed
        self.solver = solver
        self.reference_examples = reference_examples
        self.mixture_model = mixture_model

    # ------------------------------------------------------------------ fit
    def fit(self, matrix: PGFMatrix, completion=None) -> "MixturePlanner":
        """Plan on ``matrix``; ``completion`` (optional: a fitted
        :class:`~pgfselect.predict.MatrixCompleter`, or any object with ``mean_``, ``std_``,
        ``sources`` and ``targets``) supplies the unmeasured cells."""
        self.completion_ = completion
        self.strategy_ = canonical_strategy(self.strategy)
        self.budget_ = parse_examples(self.budget, "budget")
        self._check_params()
        self.targets_ = self._resolve_targets(matrix)
        self.notes_: list[str] = []
        self.recommendation_ = None
        self.matrix_ = matrix.name or matrix.model
        self.matrix_digest_ = matrix.digest()
        mean, unc, se, predicted = self._cell_estimates(matrix)
        tw = np.array([self.targets_[t] for t in self.targets_])
        tcols = [matrix.targets.index(t) for t in self.targets_]
        self.excluded_: dict[str, str] = {}
        no_row = [t for t in matrix.targets if t not in matrix.sources and t not in self.targets_]
        if no_row:
            raise PGFSelectError(f"matrix {matrix.name or ''} has no rows for {', '.join(no_row)} (never "
                                 "finetuned as sources); measure them or predict them (completion=COMPLETER)")
        candidates = self._candidates(matrix)
        self.predicted_inputs_ = sorted({matrix.sources[i] for i in candidates
                                         if predicted[i, tcols].any()})
        caps = self._caps(matrix, candidates)
        mean_c, unc_c, se_c = mean[candidates][:, tcols], unc[candidates][:, tcols], se[candidates][:, tcols]
        combined_mean = mean_c @ tw
        # Errors of one source's cells towards several targets are treated as independent.
        combined_se = np.sqrt((se_c**2) @ (tw**2))
        if self._mean_variance:
            combined_weight = combined_mean - self.kappa * combined_se
        else:
            combined_weight = (mean_c - self.kappa * unc_c) @ tw
        names = [matrix.sources[i] for i in candidates]
        lo, hi = matrix.ci()
        z = 1.959964  # predicted cells: a normal interval from the predictive std
        lo, hi = np.where(predicted, mean - z * unc, lo), np.where(predicted, mean + z * unc, hi)
        shown = se if self._mean_variance else unc
        self.pgf_ = {matrix.sources[i]: {t: _stats(mean[i, j], shown[i, j], lo[i, j], hi[i, j], predicted[i, j])
                                         for t, j in zip(self.targets_, tcols)} for i in candidates}
        self.weights_ = dict(zip(names, combined_weight.round(6).tolist()))
        inputs = _Inputs(names, combined_mean, combined_weight, caps, combined_se)
        fixed = self._fixed(names, caps)
        remaining = self.budget_ - sum(fixed.values())
        if remaining < 0:
            raise PGFSelectError(f"fix takes {sum(fixed.values())} examples, more than the budget {self.budget_}")
        alloc = self._allocate(inputs, remaining, fixed)
        if alloc is None:
            return self._nothing_helps(matrix, inputs)
        self.allocation_ = {n: int(v) for n, v in alloc.items() if v > 0}
        assert sum(self.allocation_.values()) == self.budget_
        for n in names:
            if n not in self.allocation_ and n not in self.excluded_:
                self.excluded_[n] = self._why_not(inputs, n)
        if self.strategy_ == "pgf" and self.mixture_model is not None:
            self.expected_ = self._model_expected()
        elif self._mean_variance:
            self.expected_ = blend_expected(matrix, self.allocation_, mean, se, self.targets_, tcols)
        else:
            ref = self.reference_examples or matrix.provenance.get("examples_per_task") or 1000
            self.expected_ = saturating_expected(matrix, self.allocation_, mean, self.targets_, tcols,
                                                 float(self.saturation), float(ref))
        return self

    def _model_expected(self) -> dict:
        model, (t,) = self.mixture_model, list(self.targets_)
        shares = np.array([self.allocation_.get(n, 0) / self.budget_ for n in model.sources_])
        entry = model.expected(shares)
        return {"targets": {t: {k: v for k, v in entry.items() if k != "assumptions"}}, **entry}

    @property
    def _mean_variance(self) -> bool:
        return self.objective == "mean_variance"

    def _nothing_helps(self, matrix: PGFMatrix, inp: _Inputs) -> "MixturePlanner":
        """No source is expected to help: an answer (use the target's own data, or nothing), not an error."""
        best = int(np.argmax(inp.weight))
        reason = (f"no candidate source is expected to help {', '.join(self.targets_)}: the best, "
                  f"{inp.names[best]}, has mean PGF {inp.mean[best]:+.3f}")
        if self.kappa > 0 and inp.mean[best] > 0:
            reason += f" ± {inp.se[best]:.3f} (κ={self.kappa:g}: not reliably above zero)"
        own = self.target_examples > 0 or any(t in matrix.sources for t in self.targets_)
        self.recommendation_ = {"strategy": "direct" if self.target_examples > 0 else "zero_shot", "reason": reason}
        if self.target_examples == 0 and own:
            self.recommendation_["reason"] += ("; if you have examples of the target, finetune on them "
                                               "(strategy direct)")
        self.allocation_ = {}
        self.solver_, self.status_ = "none", NO_HELPFUL_SOURCE
        for n in inp.names:
            self.excluded_.setdefault(n, self._why_not(inp, n))
        self.expected_ = None
        return self

    # ------------------------------------------------------------------ inputs
    def _check_params(self):
        self._validate_params()
        if self.solver is not None:
            check_solver(self.solver)

    def _resolve_targets(self, matrix: PGFMatrix) -> dict[str, float]:
        raw = self.target if isinstance(self.target, Mapping) else {self.target: 1.0}
        if not raw:
            raise PGFSelectError("no target given")
        out: dict[str, float] = {}
        for name, weight in raw.items():
            canon = self._resolve_target(matrix, str(name))
            if not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
                raise PGFSelectError(f"target weight {weight!r} for {canon} must be a positive number")
            if canon in out:
                raise PGFSelectError(f"target {canon} given twice")
            out[canon] = float(weight)
        total = sum(out.values())
        return {t: w / total for t, w in out.items()}

    @staticmethod
    def _resolve_target(matrix: PGFMatrix, name: str) -> str:
        try:
            return matrix.resolve_target(name)
        except PGFSelectError:
            try:
                src = matrix.resolve_source(name)
            except PGFSelectError:
                src = None
            if src is not None:  # a task the matrix finetuned on but never evaluated
                raise PGFSelectError(f"target {name!r}: matrix {matrix.name or ''} has {src} as a source but no "
                                     f"column for it (nothing was evaluated on it); targets: "
                                     f"{', '.join(matrix.targets)}") from None
            raise

    def _cell_estimates(self, matrix: PGFMatrix):
        """Seed mean, its raw standard error, its empirical-Bayes standard error, and which cells
        are predicted, over [source, target]."""
        mean = matrix.mean()
        unc = matrix.sem()
        var = cell_variance(matrix)
        se = np.sqrt(var.mean_var)
        tcols = [matrix.targets.index(t) for t in self.targets_]
        predicted = np.zeros(mean.shape, bool)
        if self.completion_ is not None:
            if tuple(self.completion_.sources) != matrix.sources or tuple(self.completion_.targets) != matrix.targets:
                raise PGFSelectError("the completion was fitted on another matrix (its task order differs)")
            missing = ~matrix.measured & ~matrix.undefined
            cm, cs = np.asarray(self.completion_.mean_, float), np.asarray(self.completion_.std_, float)
            mean = np.where(missing, cm, mean)
            # A predicted cell is shrunk by the larger of its predictive std and any seed spread.
            unc = np.where(missing, np.fmax(cs, np.nan_to_num(unc)), unc)
            se = np.where(missing, np.fmax(cs, np.nan_to_num(se)), se)
            predicted = missing
        for j, t in zip(tcols, self.targets_):
            col_undef = matrix.undefined[:, j]
            if col_undef.all():
                raise PGFSelectError(f"target {t} has no headroom: its zero-shot accuracy equals the "
                                     "ceiling in every seed, so PGF is undefined and nothing can be planned")
            if (~matrix.measured[:, j] & ~col_undef & ~predicted[:, j]).any():
                gaps = [matrix.sources[i] for i in np.flatnonzero(~matrix.measured[:, j] & ~col_undef)]
                raise PGFSelectError(f"matrix {matrix.name or ''} has unmeasured cells towards {t} "
                                     f"(sources: {', '.join(gaps)}); measure them or predict them (completion=COMPLETER)")
        if self.kappa > 0:
            used = se if self._mean_variance else unc
            if np.isnan(used[:, tcols]).all():
                self.notes_.append("one seed only: no uncertainty estimate, so no shrinkage (κ has no effect)")
            elif self._mean_variance and var.method == "binomial":
                self.notes_.append("one seed only: uncertainty from evaluation noise alone (binomial), which "
                                   "leaves out training noise; measure a second seed")
        return mean, np.nan_to_num(unc, nan=0.0), np.nan_to_num(se, nan=0.0), predicted

    def _candidates(self, matrix: PGFMatrix) -> list[int]:
        excl = {matrix.resolve_source(s) for s in self.exclude or ()}
        incl = None if self.include is None else {matrix.resolve_source(s) for s in self.include}
        fixed = {matrix.resolve_source(s) for s in (self.fix or {})}
        both = sorted(excl & (incl or set())) + sorted(excl & fixed)
        if both:
            raise PGFSelectError(f"source {both[0]} is both excluded and {'included' if both[0] in (incl or ()) else 'fixed'}; "
                                 "give it to one option only")
        out = []
        direct = self.strategy_ == "direct"
        if direct and len(self.targets_) > 1:
            raise PGFSelectError("strategy 'direct' needs exactly one target")
        if self.target_examples > 0 and not direct:
            no_row = [t for t in self.targets_ if t not in matrix.sources]
            if no_row:
                raise PGFSelectError(f"target_examples {self.target_examples}: matrix {matrix.name or ''} has no row for "
                                     f"the target {no_row[0]} (it was never finetuned on), so its own data has no PGF "
                                     "to plan with; measure that row or leave target_examples at 0")
        tcols = [matrix.targets.index(t) for t in self.targets_]
        for i, src in enumerate(matrix.sources):
            is_target = src in self.targets_
            if src in excl:
                self.excluded_[src] = "listed in exclude"
            elif direct and not is_target:
                continue
            elif is_target and not direct and self.target_examples == 0:
                self.excluded_[src] = "target's own data (allow: target_examples=N)"
            elif incl is not None and src not in incl and src not in fixed and not is_target:
                self.excluded_[src] = "not listed in include"
            elif matrix.undefined[i, tcols].any() and not (self.completion_ is not None):
                self.excluded_[src] = "PGF undefined (target has no headroom)"
            else:
                out.append(i)
        if direct and not out:
            t = next(iter(self.targets_))
            raise PGFSelectError(f"strategy 'direct' needs the target {t} among the matrix sources")
        if not out:
            reasons: dict[str, list[str]] = {}
            for src, why in self.excluded_.items():
                reasons.setdefault(why, []).append(src)
            def names(srcs):
                return ", ".join(srcs) if len(srcs) <= 3 else f"{len(srcs)} sources ({', '.join(srcs[:2])}, …)"

            detail = "; ".join(f"{names(srcs)}: {why}" for why, srcs in
                               sorted(reasons.items(), key=lambda kv: len(kv[1])))
            raise PGFSelectError(f"no candidate sources left: {detail}")
        return out

    def _caps(self, matrix: PGFMatrix, candidates: list[int]) -> np.ndarray:
        avail = dict(self.available or {})
        default = avail.pop("default", None)
        default = math.inf if default is None else parse_examples(default, "available default")
        caps = {}
        for name, n in avail.items():
            src = matrix.resolve_source(str(name))
            if src in caps:
                raise PGFSelectError(f"available gives source {src} more than once (as {name!r} too)")
            caps[src] = parse_examples(n, f"available examples for {src}")
        out = []
        for i in candidates:
            src = matrix.sources[i]
            cap = caps.get(src, default)
            if src in self.targets_ and self.strategy_ != "direct":
                cap = min(cap, self.target_examples)
            out.append(cap)
        return np.array(out, float)

    def _fixed(self, names: list[str], caps: np.ndarray) -> dict[str, int]:
        out = {}
        for src, n in (self.fix or {}).items():
            match = [m for m in names if normalize(m) == normalize(str(src)) or m == src]
            if not match:
                raise PGFSelectError(f"fix source {src!r} is not a candidate source; candidates: {', '.join(names)}")
            if match[0] in out:
                raise PGFSelectError(f"fix gives source {match[0]} more than once (as {src!r} too)")
            n = parse_examples(n, f"fixed examples for {match[0]}")
            if n > caps[names.index(match[0])]:
                raise PGFSelectError(f"fix {match[0]}={n} is above its {int(caps[names.index(match[0])])} available examples")
            out[match[0]] = n
        return out

    # ------------------------------------------------------------------ strategies
    # ------------------------------------------------------------------ outputs
    def to_dict(self) -> dict:
        """The plan as a plain dict (the JSON output and the plan file)."""
        self._check_fitted("allocation_")
        targets = list(self.targets_)
        return to_jsonable({
            "pgfselect_plan": 1,
            "target": targets[0] if len(targets) == 1 else targets,
            "targets": {t: round(w, 6) for t, w in self.targets_.items()},
            "budget": self.budget_,
            "matrix": self.matrix_,
            "matrix_digest": self.matrix_digest_,
            "strategy": self.strategy_,
            "allocation": dict(sorted(self.allocation_.items(), key=lambda kv: -kv[1])),
            "excluded": self.excluded_,
            "solver": self.solver_,
            "status": self.status_,
            "objective": (None if self.strategy_ != "pgf" else
                          self.mixture_model.name if self.mixture_model is not None else self.objective),
            "recommendation": self.recommendation_,
            "expected": self.expected_,
            "pgf": self.pgf_,
            "predicted_inputs": self.predicted_inputs_,
            "notes": self.notes_,
            "options": {"objective": self.objective, "kappa": self.kappa, "saturation": self.saturation, "tau": self.tau, "k": self.k,
                        "seed": self.seed, "target_examples": self.target_examples,
                        "available": dict(self.available or {}), "exclude": list(self.exclude or ()),
                        "include": None if self.include is None else list(self.include),
                        "fix": dict(self.fix or {})},
            "pgfselect_version": __version__,
        })


def _stats(mean, unc, lo, hi, predicted) -> dict:
    r = lambda v: None if not np.isfinite(v) else round(float(v), 4)  # noqa: E731
    return {"mean": r(mean), "uncertainty": r(unc), "ci_low": r(lo), "ci_high": r(hi),
            "predicted": bool(predicted)}


def plan(matrix: PGFMatrix, target, budget, **kw) -> dict:
    """Functional shortcut: ``MixturePlanner(target, budget, **kw).fit(matrix).to_dict()``."""
    return MixturePlanner(target, budget, **kw).fit(matrix).to_dict()
