"""MixturePlanner: how many training examples to take from each source task for a target.

Weights. For source i and targets t with weights W_t (summing to 1):
    w_i = Σ_t W_t · (mean_it − κ · u_it)
where mean is the seed-mean PGF and u its uncertainty (standard error of the seed mean for
measured cells; the predictive std for cells predicted by ``--complete``). Sources with w_i ≤ 0
are left out (negative-transfer guard). The ``pgf`` strategy then solves the concave problem in
:mod:`.optimizer`; the baseline strategies split the same budget by simple rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import PGFSelectError
from ..matrix import PGFMatrix
from ..names import normalize
from .budget import parse_examples
from .optimizer import proportional, round_allocation, solve

STRATEGIES = {
    "pgf": "maximise Σ w·log(1 + x/s) under the budget (convex; diminishing returns)",
    "paper": "the paper's rule: sources with mean PGF > τ, examples in proportion to PGF",
    "top_k": "the k sources with the highest shrunk PGF, equal split",
    "uniform": "every candidate source, equal split (ignores PGF)",
    "random": "k random candidate sources (seeded), equal split",
    "best_single": "the whole budget on the single best source",
    "direct": "the target's own training data only (direct finetuning)",
}
_ALIASES = {"randomk": "random", "topk": "top_k", "bestsingle": "best_single", "targetonly": "direct",
            "direct": "direct", "pgf": "pgf", "paper": "paper", "uniform": "uniform", "random": "random"}


def canonical_strategy(name: str) -> str:
    key = normalize(name)
    if key in _ALIASES:
        return _ALIASES[key]
    if key == "zeroshot":
        raise PGFSelectError("strategy 'zero_shot' trains nothing, so it has no mixture to plan; "
                             "it is a baseline of `pgfselect train`")
    raise PGFSelectError(f"unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")


@dataclass
class _Inputs:
    """Per-candidate numbers the strategies work from (internal)."""

    names: list[str]
    mean: np.ndarray  # target-weighted seed-mean PGF
    weight: np.ndarray  # target-weighted shrunk PGF
    caps: np.ndarray


class MixturePlanner:
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
    kappa: uncertainty shrink κ in mean − κ·uncertainty (0 trusts the means as they are).
    saturation: s in log(1 + x/s), in examples: the marginal value of a source halves after
        about s examples; smaller s spreads the budget, larger s concentrates it.
    available: source → examples available (caps); key "default" sets the cap of the others.
    exclude / include: sources never to use / the only sources to consider.
    fix: source → examples to take exactly (taken out of the budget first).
    target_examples: examples of the target's own data that may be used (0 = none, the default).
    tau, k, seed: threshold of ``paper``; number of sources of ``top_k``/``random``; RNG seed of
        ``random``.
    reference_examples: training-set size at which the matrix was measured (for ``expected_``);
        default: the matrix provenance's ``examples_per_task``, else 1000.
    completion: an optional object with ``mean_``, ``std_`` and ``measured_`` [source, target]
        arrays (from :mod:`pgfselect.predict`) used for unmeasured cells.
    """

    def __init__(self, target, budget, *, strategy="pgf", kappa=1.0, saturation=500.0, available=None,
                 exclude=(), include=None, fix=None, target_examples=0, tau=0.05, k=3, seed=0,
                 solver=None, reference_examples=None, completion=None):
        self.target = target
        self.budget = budget
        self.strategy = strategy
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
        self.completion = completion

    # ------------------------------------------------------------------ fit
    def fit(self, matrix: PGFMatrix) -> "MixturePlanner":
        self.strategy_ = canonical_strategy(self.strategy)
        self.budget_ = parse_examples(self.budget, "budget")
        self._check_params()
        self.targets_ = self._resolve_targets(matrix)
        self.notes_: list[str] = []
        self.matrix_ = matrix.name or matrix.model
        self.matrix_digest_ = matrix.digest()
        mean, unc, predicted = self._cell_estimates(matrix)
        tw = np.array([self.targets_[t] for t in self.targets_])
        tcols = [matrix.targets.index(t) for t in self.targets_]
        mean_t = mean[:, tcols]
        unc_t = unc[:, tcols]
        self.excluded_: dict[str, str] = {}
        no_row = [t for t in matrix.targets if t not in matrix.sources and t not in self.targets_]
        if no_row:
            raise PGFSelectError(f"matrix {matrix.name or ''} has no rows for {', '.join(no_row)} (never "
                                 "finetuned as sources); measure them or plan with --complete")
        candidates = self._candidates(matrix)
        self.predicted_inputs_ = sorted({matrix.sources[i] for i in candidates
                                         if predicted[i, tcols].any()})
        caps = self._caps(matrix, candidates)
        combined_mean = mean_t[candidates] @ tw
        combined_weight = (mean_t[candidates] - self.kappa * unc_t[candidates]) @ tw
        names = [matrix.sources[i] for i in candidates]
        lo, hi = matrix.ci()
        z = 1.959964  # predicted cells: a normal interval from the predictive std
        lo, hi = np.where(predicted, mean - z * unc, lo), np.where(predicted, mean + z * unc, hi)
        self.pgf_ = {matrix.sources[i]: {t: _stats(mean[i, j], unc[i, j], lo[i, j], hi[i, j], predicted[i, j])
                                         for t, j in zip(self.targets_, tcols)} for i in candidates}
        self.weights_ = dict(zip(names, combined_weight.round(6).tolist()))
        inputs = _Inputs(names, combined_mean, combined_weight, caps)
        fixed = self._fixed(names, caps)
        remaining = self.budget_ - sum(fixed.values())
        if remaining < 0:
            raise PGFSelectError(f"--fix takes {sum(fixed.values())} examples, more than the budget {self.budget_}")
        alloc = self._allocate(inputs, remaining, fixed)
        self.allocation_ = {n: int(v) for n, v in alloc.items() if v > 0}
        assert sum(self.allocation_.values()) == self.budget_
        for n in names:
            if n not in self.allocation_ and n not in self.excluded_:
                self.excluded_[n] = self._why_not(inputs, n)
        self.expected_ = self._expected(matrix, mean, tcols, tw)
        return self

    # ------------------------------------------------------------------ inputs
    def _check_params(self):
        for name, value, ok in (("kappa", self.kappa, lambda v: v >= 0),
                                ("saturation", self.saturation, lambda v: v > 0),
                                ("tau", self.tau, lambda v: True)):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
                raise PGFSelectError(f"{name} {value!r} is not allowed (kappa ≥ 0, saturation > 0, finite tau)")
        if not isinstance(self.k, int) or self.k < 1:
            raise PGFSelectError(f"k {self.k!r} must be a whole number ≥ 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise PGFSelectError(f"seed {self.seed!r} must be a whole number ≥ 0")
        if not isinstance(self.target_examples, int) or self.target_examples < 0:
            raise PGFSelectError(f"target_examples {self.target_examples!r} must be a whole number ≥ 0")
        if self.solver is not None:
            from .checks import check_solver

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
        """Seed mean, its uncertainty, and which cells are predicted, over [source, target]."""
        mean = matrix.mean()
        unc = matrix.sem()
        tcols = [matrix.targets.index(t) for t in self.targets_]
        predicted = np.zeros(mean.shape, bool)
        if self.completion is not None:
            if tuple(self.completion.sources) != matrix.sources or tuple(self.completion.targets) != matrix.targets:
                raise PGFSelectError("the completion was fitted on another matrix (its task order differs)")
            missing = ~matrix.measured & ~matrix.undefined
            cm, cs = np.asarray(self.completion.mean_, float), np.asarray(self.completion.std_, float)
            mean = np.where(missing, cm, mean)
            # A predicted cell is shrunk by the larger of its predictive std and any seed spread.
            unc = np.where(missing, np.fmax(cs, np.nan_to_num(unc)), unc)
            predicted = missing
        for j, t in zip(tcols, self.targets_):
            col_undef = matrix.undefined[:, j]
            if col_undef.all():
                raise PGFSelectError(f"target {t} has no headroom: its zero-shot accuracy equals the "
                                     "ceiling in every seed, so PGF is undefined and nothing can be planned")
            if (~matrix.measured[:, j] & ~col_undef & ~predicted[:, j]).any():
                gaps = [matrix.sources[i] for i in np.flatnonzero(~matrix.measured[:, j] & ~col_undef)]
                raise PGFSelectError(f"matrix {matrix.name or ''} has unmeasured cells towards {t} "
                                     f"(sources: {', '.join(gaps)}); measure them or plan with --complete")
        if self.kappa > 0 and np.isnan(unc[:, tcols]).all():
            self.notes_.append("one seed only: no uncertainty estimate, so no shrinkage (κ has no effect)")
        return mean, np.nan_to_num(unc, nan=0.0), predicted

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
                self.excluded_[src] = "excluded by --exclude"
            elif direct and not is_target:
                continue
            elif is_target and not direct and self.target_examples == 0:
                self.excluded_[src] = "target's own data (allow: --target-examples N)"
            elif incl is not None and src not in incl and src not in fixed and not is_target:
                self.excluded_[src] = "not in --include"
            elif matrix.undefined[i, tcols].any() and not (self.completion is not None):
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
                raise PGFSelectError(f"--fix source {src!r} is not a candidate source; candidates: {', '.join(names)}")
            if match[0] in out:
                raise PGFSelectError(f"fix gives source {match[0]} more than once (as {src!r} too)")
            n = parse_examples(n, f"fixed examples for {match[0]}")
            if n > caps[names.index(match[0])]:
                raise PGFSelectError(f"--fix {match[0]}={n} is above its {int(caps[names.index(match[0])])} available examples")
            out[match[0]] = n
        return out

    # ------------------------------------------------------------------ strategies
    def _allocate(self, inp: _Inputs, budget: int, fixed: dict[str, int]) -> dict[str, int]:
        free = np.array([n not in fixed for n in inp.names])
        caps = np.where(free, inp.caps, 0.0)
        strategy = self.strategy_
        self.solver_, self.status_ = "rule", "optimal (closed-form rule)"
        if budget == 0:
            return dict(fixed)
        if strategy == "pgf":
            w = np.where(free, inp.weight, 0.0)
            self._guard(inp, w)
            x, self.solver_, self.status_ = solve(w, budget, caps, float(self.saturation), self.solver)
            priority = w
        elif strategy == "paper":
            w = np.where(free & (inp.mean > self.tau), inp.mean, 0.0)
            if not (w > 0).any():
                best = inp.names[int(np.argmax(inp.mean))]
                raise PGFSelectError(f"no source has mean PGF above τ={self.tau} for this target "
                                     f"(best: {best} at {inp.mean.max():.3f}); lower --tau")
            x, priority = proportional(w, budget, caps), w
        elif strategy in ("top_k", "best_single", "random", "uniform", "direct"):
            w = self._pick(inp, free, strategy)
            x, priority = proportional(w, budget, caps), inp.weight
        else:  # pragma: no cover - canonical_strategy guards this
            raise AssertionError(strategy)
        ints = round_allocation(x, budget, caps, priority)
        out = {n: int(v) for n, v in zip(inp.names, ints)}
        for n, v in fixed.items():
            out[n] = out.get(n, 0) + v
        return out

    def _guard(self, inp: _Inputs, w: np.ndarray) -> None:
        if (w > 0).any():
            return
        best = int(np.argmax(inp.weight))
        kappa_hint = ", lower --kappa" if self.kappa > 0 and (inp.mean > 0).any() else ""
        raise PGFSelectError(
            f"every candidate source is expected to hurt or not help the target: the best, "
            f"{inp.names[best]}, has shrunk PGF {inp.weight[best]:.3f} (mean {inp.mean[best]:.3f}, κ={self.kappa:g}); "
            f"use direct finetuning (--target-examples N){kappa_hint} or another target")

    def _pick(self, inp: _Inputs, free: np.ndarray, strategy: str) -> np.ndarray:
        idx = np.flatnonzero(free)
        if strategy in ("top_k", "random") and self.k > len(idx):
            self.notes_.append(f"k={self.k} is more than the {len(idx)} candidate source"
                               f"{'' if len(idx) == 1 else 's'}: strategy {strategy} uses them all")
        if strategy in ("uniform", "direct"):
            chosen = idx
        elif strategy == "random":
            rng = np.random.default_rng(self.seed)
            chosen = rng.choice(idx, size=min(self.k, len(idx)), replace=False)
        else:
            k = 1 if strategy == "best_single" else self.k
            order = idx[np.argsort(-inp.weight[idx], kind="stable")]
            chosen = order[:k]
        w = np.zeros(len(inp.names))
        w[chosen] = 1.0
        if inp.caps[chosen].sum() < self.budget_ - 0.5 and strategy in ("best_single", "top_k", "random"):
            names = ", ".join(inp.names[i] for i in chosen)
            raise PGFSelectError(f"strategy {strategy}: {names} have only {int(inp.caps[chosen].sum())} "
                                 f"examples available, below the budget {self.budget_}")
        return w

    def _why_not(self, inp: _Inputs, name: str) -> str:
        i = inp.names.index(name)
        mean, weight = inp.mean[i], inp.weight[i]
        if self.strategy_ in ("pgf",):
            if mean < 0:
                return f"negative transfer (mean {mean:+.3f})"
            if weight <= 0:
                return f"not reliably helpful (shrunk {weight:+.3f}, κ={self.kappa:g})"
            return f"too weak for this budget (shrunk {weight:+.3f})"
        if self.strategy_ == "paper":
            return f"mean PGF {mean:+.3f} ≤ τ={self.tau:g}"
        return f"not chosen by strategy {self.strategy_}"

    # ------------------------------------------------------------------ outputs
    def _expected(self, matrix: PGFMatrix, mean: np.ndarray, tcols: list[int], tw: np.ndarray) -> dict:
        """What the mix should give each target, as a blend of its sources: Σ_i (x_i/B) · mean_i ·
        g(B), each source's PGF at the whole budget weighted by its share, with
        g(x) = log(1 + x/s) / log(1 + r/s) and r the examples per source the matrix was measured at.
        The optimiser's objective adds the sources up instead; measured two-source mixes blend
        (benchmarks/RESULTS.md, "Does transfer add up?"), so the sum overstates what a mix gives.
        ``range`` runs from the blend to compounding, 1 − Π_i (1 − mean_i · g(x_i)): each source
        closing its share of the gap the others left, which is what transfer would give if it did
        add up (and, unlike the sum, never exceeds 1)."""
        ref = self.reference_examples or matrix.provenance.get("examples_per_task") or 1000
        ref = float(ref)
        s = float(self.saturation)

        def g(x):
            return math.log1p(x / s) / math.log1p(ref / s)

        budget = float(sum(self.allocation_.values()))
        base = matrix.base_accuracy()
        per_target = {}
        for t, j in zip(self.targets_, tcols):
            cell = {n: float(mean[matrix.sources.index(n), j]) for n in self.allocation_}
            blend = {n: x / budget * cell[n] * g(budget) for n, x in self.allocation_.items()}
            compounding = 1 - math.prod(1 - min(cell[n] * g(x), 1.0) for n, x in self.allocation_.items())
            pgf = sum(blend.values())
            entry = {"pgf": round(pgf, 4), "range": [round(min(pgf, compounding), 4), round(max(pgf, compounding), 4)],
                     "per_source": {n: round(v, 4) for n, v in blend.items()}}
            if base is not None and matrix.ceiling is not None:
                b = float(np.nanmean(base[:, j]))
                u = float(matrix.ceiling[j])
                entry["zero_shot_accuracy"] = round(b, 4)
                entry["accuracy"] = round(b + entry["pgf"] * (u - b), 4)
            per_target[t] = entry
        weights = list(zip(self.targets_, tw))
        return {"targets": per_target, "pgf": round(sum(per_target[t]["pgf"] * w for t, w in weights), 4),
                "range": [round(sum(per_target[t]["range"][k] * w for t, w in weights), 4) for k in (0, 1)],
                "assumptions": f"the mix as a blend of its sources (as measured two-source mixes behave); "
                               f"up to the range's top if transfer adds up; log saturation s={s:g}, matrix "
                               f"measured at {ref:g} examples per source; a rough estimate, not a promise"}

    def to_dict(self) -> dict:
        """The plan as a plain dict (the JSON output and the plan file)."""
        from .. import __version__

        targets = list(self.targets_)
        return _plain({
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
            "expected": self.expected_,
            "pgf": self.pgf_,
            "predicted_inputs": self.predicted_inputs_,
            "notes": self.notes_,
            "options": {"kappa": self.kappa, "saturation": self.saturation, "tau": self.tau, "k": self.k,
                        "seed": self.seed, "target_examples": self.target_examples,
                        "available": dict(self.available or {}), "exclude": list(self.exclude or ()),
                        "include": None if self.include is None else list(self.include),
                        "fix": dict(self.fix or {})},
            "pgfselect_version": __version__,
        })


def _plain(obj):
    """Numpy scalars to Python numbers, so the plan serialises to YAML and JSON alike."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _stats(mean, unc, lo, hi, predicted) -> dict:
    r = lambda v: None if not np.isfinite(v) else round(float(v), 4)  # noqa: E731
    return {"mean": r(mean), "uncertainty": r(unc), "ci_low": r(lo), "ci_high": r(hi),
            "predicted": bool(predicted)}


def plan(matrix: PGFMatrix, target, budget, **kw) -> dict:
    """Functional shortcut: ``MixturePlanner(target, budget, **kw).fit(matrix).to_dict()``."""
    return MixturePlanner(target, budget, **kw).fit(matrix).to_dict()


def strategies() -> Sequence[str]:
    return list(STRATEGIES)
