"""From a recipe to the exact list of runs: matrix names to task ids, one mixture per (strategy,
seed), sampling seeds, checks on plan files and available data. CPU-only, no torch: this is what
``pgfselect train --validate`` shows and what the runner executes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from ..errors import PGFSelectError
from ..matrix import PGFMatrix, load
from ..names import resolve as resolve_name
from ..plan import MixturePlanner, read_plan
from ..plan.planner import NO_HELPFUL_SOURCE
from ..tasks.schema import PROMPT_VERSION
from .schema import PLANNED, LoadedRecipe, canonical_strategy


@dataclass
class RunSpec:
    """One (strategy, seed) run: what it trains on and where it is written."""

    strategy: str
    seed: int | None  # None for zero_shot (no training, so nothing seed-dependent)
    allocation: dict[str, int]  # task id -> training examples
    sampling_seeds: dict[str, int] = field(default_factory=dict)  # task id -> seed of its items
    plan: dict | None = None  # the planner's output for planned strategies
    expected_pgf: float | None = None  # the plan's estimate of the mix's PGF on the target
    repeat_to: int | None = None  # scarce direct: the items cycled to this many examples

    @property
    def key(self) -> str:
        return f"runs/{self.strategy}/" + ("base" if self.seed is None else f"seed_{self.seed}")

    @property
    def examples(self) -> int:
        return self.repeat_to or sum(self.allocation.values())

    def describe(self) -> dict:
        out = {"strategy": self.strategy, "seed": self.seed, "path": self.key, "examples": self.examples,
               "allocation": dict(self.allocation), "sampling_seeds": dict(self.sampling_seeds),
               "expected_pgf": self.expected_pgf}
        if self.repeat_to:
            out["repeat_to"] = self.repeat_to
        return out


@dataclass
class Resolution:
    matrix: PGFMatrix
    target_name: str  # the target as the matrix names it
    target_id: str  # registry id of the target
    task_ids: dict[str, str]  # matrix name -> task id
    eval_tasks: list[str]
    warmup_tasks: list[str]  # a tiny base is warmed up on these (the matrix's tasks, as measure does)
    runs: list[RunSpec]
    recipe_hash: str
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"recipe_hash": self.recipe_hash, "matrix": self.matrix.name, "matrix_digest": self.matrix.digest(),
                "target": self.target_name, "target_task": self.target_id, "task_ids": self.task_ids,
                "evaluation_tasks": self.eval_tasks, "warmup_tasks": self.warmup_tasks,
                "runs": [r.describe() for r in self.runs], "warnings": self.warnings}


def sampling_seed(seed: int, strategy: str, task_id: str) -> int:
    """Seed of the items a run draws from one source: a recorded function of (recipe seed,
    strategy, source), so reruns draw the same items and strategies draw independently."""
    digest = hashlib.sha256(f"pgfselect/sample/{seed}/{strategy}/{task_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def resolve(loaded: LoadedRecipe, *, check_data: bool = True) -> Resolution:
    """Every run of the recipe, fully determined. ``check_data``: fail when a source's train split
    cannot be read (training needs it); otherwise such checks become warnings (``--validate``)."""
    r = loaded.recipe
    warnings: list[str] = []
    plan_doc = _read_plan_file(loaded) if r.mixture.plan else None
    matrix_spec = loaded.path(r.matrix) if r.matrix else str(plan_doc["matrix"])
    matrix = load(matrix_spec)
    target_name = _resolve_target(matrix, r.target)
    task_ids = _task_ids(loaded, matrix)
    target_id = task_ids[target_name]
    sizes = _TrainSizes(r, check_data, warnings)

    runs: list[RunSpec] = []
    mixture_label = r.mixture.strategy
    if plan_doc is not None:
        _check_plan(plan_doc, loaded, matrix, target_name, r.budget)
        try:
            mixture_label = canonical_strategy(plan_doc["strategy"])
        except ValueError as exc:
            raise PGFSelectError(f"plan file {r.mixture.plan!r}: {exc}") from None
        if mixture_label in r.baselines:
            raise PGFSelectError(f"baselines: {mixture_label!r} is already the mixture under test "
                                 f"(the plan file {r.mixture.plan} was made with strategy {plan_doc['strategy']})")
        fixed_plan = plan_doc
    else:
        fixed_plan = None
    available = _available(r, matrix, task_ids, sizes)
    scarce = r.scarce_target
    mixture_plan = fixed_plan or _plan(r, matrix, target_name, mixture_label, available, seed=0)
    k = r.planner.k or max(1, len(mixture_plan["allocation"]))
    for strategy in [mixture_label] + [b for b in r.baselines if b != mixture_label]:
        if strategy == "zero_shot":
            runs.append(RunSpec("zero_shot", None, {}))
            continue
        if strategy == mixture_label and mixture_plan["status"] == NO_HELPFUL_SOURCE:
            rec = mixture_plan["recommendation"]
            warnings.append(f"{strategy}: {rec['reason']}; its runs are skipped (recommendation: {rec['strategy']})")
            continue
        for seed in r.seeds:
            repeat_to = None
            if strategy == mixture_label:
                plan = mixture_plan
            elif strategy == "direct":
                plan = None
            else:
                # random draws new sources per seed; the other rules ignore the seed.
                plan = _plan(r, matrix, target_name, strategy, available, seed=seed if strategy == "random" else 0, k=k)
            if plan is None:
                alloc = {target_id: scarce or r.budget}
                repeat_to = r.budget if scarce else None
                expected = None if scarce else _direct_expected(r, matrix, target_name)
            elif plan["status"] == NO_HELPFUL_SOURCE:
                warnings.append(f"{strategy} seed {seed}: {plan['recommendation']['reason']}; run skipped")
                continue
            else:
                alloc = {task_ids[src]: int(n) for src, n in plan["allocation"].items() if n > 0}
                # Scarce mode: the matrix says nothing about n target examples plus a mix.
                expected = None if scarce else _expected_pgf(plan, target_name)
                if scarce:
                    alloc = {target_id: scarce, **alloc}
            # Scarce mode: every strategy of a seed gets the same n target examples (the user's).
            seeds = {t: sampling_seed(seed, "scarce_target" if scarce and t == target_id else strategy, t)
                     for t in alloc}
            # Two rules that plan the same mixture are one experiment: the later one draws the earlier
            # one's items, so its runs are the same training (the runner reuses them). random is
            # left out: its mixture is a draw, and a coincidence is part of that draw.
            same = None if strategy == "random" else next(
                (o for o in runs if o.seed == seed and o.strategy != "random"
                 and (o.allocation, o.repeat_to) == (alloc, repeat_to)), None)
            if same is not None:
                seeds = dict(same.sampling_seeds)
            run = RunSpec(strategy, seed, alloc, seeds, plan=plan, expected_pgf=expected, repeat_to=repeat_to)
            sizes.check(run)
            runs.append(run)

    sizes.report()
    eval_tasks = _eval_tasks(loaded, matrix, task_ids, target_id)
    warmup = sorted(set(task_ids.values()) | {target_id})
    resolved = {"matrix_digest": matrix.digest(), "target": target_id, "task_ids": task_ids,
                "mixture": mixture_label, "plan_allocation": (fixed_plan or {}).get("allocation"),
                "eval_tasks": eval_tasks, "task_provenance": _provenance(r, set(task_ids.values()) | {target_id})}
    return Resolution(matrix, target_name, target_id, task_ids, eval_tasks, warmup, runs,
                      r.content_hash(resolved), warnings)


# ------------------------------------------------------------------ names
def _resolve_target(matrix: PGFMatrix, name: str) -> str:
    try:
        return matrix.resolve_target(name)
    except PGFSelectError:
        if ":" in name:  # 'blink:Counting' against a matrix of bare BLINK names
            return matrix.resolve_target(name.split(":", 1)[1])
        raise


def _task_ids(loaded: LoadedRecipe, matrix: PGFMatrix) -> dict[str, str]:
    """Registry id of every matrix task: ``tasks`` entries, names that are ids already, or
    ``task_prefix`` + name."""
    r = loaded.recipe
    names = list(dict.fromkeys(list(matrix.sources) + list(matrix.targets)))
    explicit = {}
    for key, tid in r.tasks.items():
        try:
            explicit[_resolve_name(matrix, key, names)] = tid
        except PGFSelectError as exc:
            raise PGFSelectError(f"tasks: {exc}") from None
    out = {}
    for name in names:
        if name in explicit:
            tid = explicit[name]
        elif ":" in name:
            tid = name
        elif r.task_prefix:
            tid = r.task_prefix + name
        else:
            raise PGFSelectError(f"matrix task {name!r} is not a task id; set task_prefix (e.g. 'blink:' or "
                                 f"'synthetic:') or map it under tasks: {{{name}: SOURCE:NAME}}")
        out[name] = _canonical_id(loaded, tid, f"task for matrix name {name!r}")
    return out


def _canonical_id(loaded: LoadedRecipe, tid: str, where: str) -> str:
    """The registry id; a custom task given by its manifest path keeps the (absolute) path,
    since its bare name is not registered anywhere."""
    source, _, rest = tid.partition(":")
    if source.strip().lower() == "custom" and rest.strip().lower().endswith((".yaml", ".yml")):
        tid = "custom:" + loaded.path(rest.strip())
    try:
        task = loaded.recipe.task(tid)
    except PGFSelectError as exc:
        raise PGFSelectError(f"{where}: {exc}") from None
    return tid if task.source == "custom" else task.id


def _resolve_name(matrix: PGFMatrix, key: str, names: list[str]) -> str:
    return resolve_name(key, names, "matrix task")


def _eval_tasks(loaded: LoadedRecipe, matrix: PGFMatrix, task_ids: dict, target_id: str) -> list[str]:
    spec = loaded.recipe.evaluation.tasks
    if spec == "target":
        return [target_id]
    if spec == "all":
        return [target_id] + [t for t in dict.fromkeys(task_ids.values()) if t != target_id]
    out = [target_id]
    for k, name in enumerate(spec):
        if name in task_ids:
            tid = task_ids[name]
        elif ":" in name:
            tid = _canonical_id(loaded, name, f"evaluation.tasks[{k}]")
        else:
            try:
                tid = task_ids[_resolve_name(matrix, name, list(task_ids))]
            except PGFSelectError as exc:
                raise PGFSelectError(f"evaluation.tasks[{k}]: {exc}") from None
        if tid not in out:
            out.append(tid)
    return out


def _provenance(r, task_ids: set[str]) -> dict:
    return {"prompt_version": str(PROMPT_VERSION), **{t: r.task(t).provenance() for t in sorted(task_ids)}}


# ------------------------------------------------------------------ plans
def _read_plan_file(loaded: LoadedRecipe) -> dict:
    return read_plan(loaded.path(loaded.recipe.mixture.plan))


def _check_plan(plan: dict, loaded: LoadedRecipe, matrix: PGFMatrix, target_name: str, budget: int) -> None:
    where = f"plan file {loaded.recipe.mixture.plan!r}"
    if isinstance(plan["target"], list):
        raise PGFSelectError(f"{where} is for several targets ({', '.join(plan['target'])}); a recipe verifies one")
    if plan["target"] != target_name:
        raise PGFSelectError(f"{where} was made for target {plan['target']!r}, not the recipe's {target_name!r}")
    digest = plan.get("matrix_digest")
    if digest is not None and digest != matrix.digest():
        raise PGFSelectError(f"{where} was made from matrix {plan['matrix']!r} (digest {digest}), not the "
                             f"recipe's {matrix.name!r} (digest {matrix.digest()}); re-plan with this matrix")
    if plan["budget"] != budget:
        raise PGFSelectError(f"{where} has budget {plan['budget']}, not the recipe's {budget}: baselines must "
                             "run under the same budget")
    unknown = [s for s in plan["allocation"] if s not in matrix.sources]
    if unknown:
        raise PGFSelectError(f"{where} allocates to {', '.join(unknown)}, not sources of matrix {matrix.name!r}")


def _planner_kwargs(r, strategy: str, available: dict, seed: int, k: int | None) -> dict:
    p = r.planner
    kw = dict(strategy=strategy, objective=p.objective, kappa=p.kappa, saturation=p.saturation, tau=p.tau, available=available,
              exclude=p.exclude, include=p.include, target_examples=p.target_examples, seed=seed,
              solver=p.solver, reference_examples=p.reference_examples)
    if k is not None:
        kw["k"] = k
    return kw


def _plan(r, matrix: PGFMatrix, target_name: str, strategy: str, available: dict, seed: int,
          k: int | None = None) -> dict:
    if strategy not in PLANNED:  # pragma: no cover - guarded by the caller
        raise AssertionError(strategy)
    kw = _planner_kwargs(r, strategy, available, seed, k if k is not None else r.planner.k)
    if r.scarce_target:  # the target's n examples are added by the caller; the rest is planned
        kw["target_examples"] = 0
    try:
        return MixturePlanner(target_name, r.budget - r.scarce_target, **kw).fit(matrix).to_dict()
    except PGFSelectError as exc:
        raise PGFSelectError(f"strategy {strategy}: {exc}") from None


def _direct_expected(r, matrix: PGFMatrix, target_name: str) -> float | None:
    """The matrix's self-transfer PGF (the diagonal), when the target is also a source."""
    if target_name not in matrix.sources:
        return None
    try:
        plan = MixturePlanner(target_name, r.budget, **_planner_kwargs(r, "direct", {}, 0, None)).fit(matrix).to_dict()
    except PGFSelectError:
        return None
    return _expected_pgf(plan, target_name)


def _expected_pgf(plan: dict, target_name: str) -> float | None:
    exp = plan.get("expected") or {}
    entry = (exp.get("targets") or {}).get(target_name)
    return None if entry is None else entry.get("pgf")


def _available(r, matrix: PGFMatrix, task_ids: dict, sizes: "_TrainSizes") -> dict:
    """The recipe's caps plus, for sources with a finite train split, its size: the planner
    then never allocates more examples than exist."""
    out = {str(k): v for k, v in r.planner.available.items()}
    given = set()
    for key in out:
        if key != "default":
            given.add(matrix.resolve_source(key))
    for src in matrix.sources:
        if src in given:
            continue
        n = sizes.size(task_ids[src])
        if n is not None:
            out[src] = n
    return out


class _TrainSizes:
    """Train-split sizes by task id (None: unbounded, as for synthetic tasks)."""

    def __init__(self, recipe, strict: bool, warnings: list[str]):
        self.recipe, self.strict, self.warnings, self._cache = recipe, strict, warnings, {}
        self.unchecked: list[str] = []

    def report(self) -> None:
        if self.unchecked:
            self.warnings.append(f"available examples not checked for {', '.join(self.unchecked)} (BLINK from the "
                                 "hub: validation downloads nothing; set PGFSELECT_BLINK_DIR to a local copy)")

    def size(self, task_id: str) -> int | None:
        if task_id not in self._cache:
            task = self.recipe.task(task_id)
            if not self.strict and task.source == "blink" and getattr(task, "local_path", None) is None:
                # Validation (check_data=False) stays fast and offline: it never downloads BLINK to count its items.
                self.unchecked.append(task_id)
                self._cache[task_id] = None
                return None
            try:
                self._cache[task_id] = task.split_sizes().get("train")
            except (PGFSelectError, NotImplementedError) as exc:
                if self.strict:
                    raise PGFSelectError(f"cannot read the train split of {task_id}: {exc}") from None
                self.warnings.append(f"available examples of {task_id} not checked: {exc}")
                self._cache[task_id] = None
        return self._cache[task_id]

    def check(self, run: RunSpec) -> None:
        for task_id, n in run.allocation.items():
            have = self.size(task_id)
            if have is not None and n > have:
                raise PGFSelectError(f"strategy {run.strategy} needs {n} examples of {task_id} but its train split "
                                     f"has {have}; lower the budget or give more data")
