"""The recipe schema of ``pgfselect train``: what to train, on which mixtures, how to verify it.

A recipe names a model, a target, a budget of training examples, the mixture to verify (a
strategy computed from a PGF matrix, or a plan file from ``pgfselect plan --out``), the baselines
to run under the same budget and seeds, and the training and evaluation settings, which are the
measurement engine's own :class:`~pgfselect.measure.config.TrainingConfig` and
:class:`~pgfselect.measure.config.EvalConfig` (one training code path for ``measure`` and
``train``). Errors name the key path (``training.rank: ...``) and exit 2 from the CLI.

Relative paths in a recipe (matrix, plan file) are relative to the recipe file's folder, so a
recipe and the files it points at can move together. ``$VARS`` and ``~`` in ``model.path`` are
expanded. No torch here: validating a recipe is fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from ..errors import PGFSelectError
from ..fileio import read_yaml_mapping
from ..measure.config import (EvalConfig, ModelConfig, TrainingConfig, _Strict, drop_legacy_defaults,
                              validate_config)
from ..plan.budget import parse_examples
from ..plan.planner import DEFAULT_KAPPA
from ..plan.strategies import RECIPE_STRATEGIES, canonical_strategy as registry_strategy
from ..tasks import SOURCES
from ..tasks.registry import task_with_options

# Strategies a recipe can run. Planned ones go through MixturePlanner on the recipe's matrix.
PLANNED = ("pgf", "paper", "top_k", "uniform", "random", "best_single")
STRATEGIES = RECIPE_STRATEGIES  # name -> description (the registry: plan/strategies.py)
RECIPE_VERSION = 1


def canonical_strategy(name: str) -> str:
    """'zero-shot', 'Zero_Shot' -> 'zero_shot'; the planner's names and aliases otherwise.
    Raises ValueError (a schema error) naming the valid strategies."""
    try:
        return registry_strategy(str(name), allow_zero_shot=True)
    except PGFSelectError as exc:
        raise ValueError(str(exc)) from None


class PlannerOptions(_Strict):
    """Options of every strategy computed from the matrix (see ``pgfselect plan --help``)."""

    objective: Literal["mean_variance", "saturating"] = "mean_variance"
    kappa: float = Field(DEFAULT_KAPPA, ge=0)
    saturation: float = Field(500.0, gt=0)
    tau: float = 0.05
    k: Optional[int] = Field(None, ge=1, description="sources of random/top_k; default: as many as the mixture uses")
    available: dict[str, Union[int, str]] = Field(default_factory=dict)
    exclude: list[str] = Field(default_factory=list)
    include: Optional[list[str]] = None
    target_examples: int = Field(0, ge=0)
    reference_examples: Optional[int] = Field(None, ge=1)
    solver: Optional[str] = None


class MixtureSpec(_Strict):
    """The mixture under test: a strategy computed from the matrix, or a plan file."""

    strategy: str = "pgf"
    plan: Optional[str] = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v):
        if isinstance(v, str):  # `mixture: pgf`
            return {"strategy": v}
        return v

    @model_validator(mode="after")
    def _check(self):
        strategy = canonical_strategy(self.strategy)
        if self.plan is None and strategy not in PLANNED:
            raise ValueError(f"strategy {strategy!r} is a baseline, not a mixture; the mixture is one of "
                             f"{', '.join(PLANNED)} or a plan file (plan: FILE)")
        object.__setattr__(self, "strategy", strategy)
        return self


class RecipeEval(EvalConfig):
    """The measurement engine's evaluation settings, plus which tasks to score.

    ``tasks``: ``target`` (default), ``all`` (every task of the matrix: a transfer row for free),
    or a list of task names.
    """

    tasks: Union[Literal["target", "all"], list[str]] = "target"

    def engine_config(self) -> EvalConfig:
        return EvalConfig(**self.model_dump(exclude={"tasks"}))


class Recipe(_Strict):
    pgfselect_recipe: Literal[1] = RECIPE_VERSION
    name: str = ""
    model: ModelConfig
    target: str
    budget: Union[int, str]
    matrix: Optional[str] = Field(None, description="published:ID, a measure folder or a matrix file; "
                                                    "default: the plan file's matrix")
    task_prefix: Optional[str] = Field(None, description="registry source for bare matrix names, e.g. 'blink:'")
    tasks: dict[str, str] = Field(default_factory=dict, description="matrix name -> task id")
    # Options for pgfselect.tasks.get_task keyed by a task source ("blink") or a task id, as in
    # measure configs; e.g. {"blink": {"train_fraction": 0.5}}.
    task_options: dict[str, dict] = Field(default_factory=dict)
    mixture: MixtureSpec = MixtureSpec()
    # Scarce-target mode: the N target examples a user has are in every trained run. Planned
    # strategies add (budget - N) examples planned from the other sources (the target's own row
    # never used); direct trains on the N examples alone, repeated to the budget (same steps).
    scarce_target: int = Field(0, ge=0, description="examples of the target in every trained run (0: off)")
    baselines: list[str] = Field(default_factory=lambda: ["direct", "random", "uniform", "zero_shot"])
    planner: PlannerOptions = PlannerOptions()
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    training: TrainingConfig = TrainingConfig()
    evaluation: RecipeEval = RecipeEval()

    @field_validator("budget")
    @classmethod
    def _budget(cls, v):
        try:
            return parse_examples(v, "budget")
        except PGFSelectError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        if any(s < 0 for s in v):
            raise ValueError(f"seeds must be ≥ 0, got {v}")
        return v

    @field_validator("baselines")
    @classmethod
    def _baselines(cls, v: list[str]) -> list[str]:
        out = [canonical_strategy(s) for s in v]
        dup = sorted({s for s in out if out.count(s) > 1})
        if dup:
            raise ValueError(f"baseline listed twice: {', '.join(dup)}")
        return out

    @field_validator("task_prefix")
    @classmethod
    def _prefix(cls, v):
        if v is None:
            return v

        src = v.rstrip(":").strip().lower()
        if src not in SOURCES:
            raise ValueError(f"task_prefix {v!r} is not a task source; valid: {', '.join(s + ':' for s in SOURCES)}")
        return src + ":"

    @field_validator("training")
    @classmethod
    def _training(cls, v: TrainingConfig) -> TrainingConfig:
        if "examples_per_task" in v.model_fields_set:
            raise ValueError("examples_per_task is a measure setting; in a recipe the budget (and the "
                             "mixture) sets how many examples each source gives")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.matrix is None and self.mixture.plan is None:
            raise ValueError("matrix: required key is missing (or give mixture.plan, a plan file naming its matrix)")
        if self.mixture.plan is None and self.mixture.strategy in self.baselines:
            raise ValueError(f"baselines: {self.mixture.strategy!r} is already the mixture under test")
        if self.scarce_target and self.scarce_target >= self.budget:
            raise ValueError(f"scarce_target: {self.scarce_target} target examples leave nothing of the budget "
                             f"{self.budget} to plan; give fewer than the budget")
        if self.scarce_target and self.mixture.plan is not None:
            raise ValueError("scarce_target: plans the mixture itself; give mixture as a strategy, not a plan file")
        return self

    # ------------------------------------------------------------------ derived
    def task(self, task_id: str):
        """The registry task for ``task_id`` with this recipe's task options."""
        return task_with_options(task_id, self.task_options)

    @property
    def strategies(self) -> list[str]:
        """Run labels in order: the mixture first, then the baselines. A plan file's mixture is
        relabelled at resolution with the strategy that made the plan."""
        return [self.mixture_label] + [b for b in self.baselines if b != self.mixture_label]

    @property
    def mixture_label(self) -> str:
        return self.mixture.strategy

    def content_hash(self, resolved: dict) -> str:
        """Key of the run folder: everything that changes a run's numbers. Seeds, baselines and the
        name are left out, so adding a seed or a baseline to a finished folder reuses its runs."""
        doc = self.model_dump(mode="json", exclude={"name": True, "seeds": True, "baselines": True,
                                                    "training": {"report_to"}})  # logging changes no number
        drop_legacy_defaults(doc)  # folders made before train_vision/device_map existed stay valid
        doc["resolved"] = resolved
        blob = json.dumps(doc, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


class LoadedRecipe:
    """A validated recipe and the folder its relative paths are resolved against."""

    def __init__(self, recipe: Recipe, base_dir: Path, source: str):
        self.recipe = recipe
        self.base_dir = base_dir
        self.source = source

    def path(self, value: str) -> str:
        """A recipe path made absolute against the recipe's folder (published:IDs unchanged)."""
        if value.lower().startswith("published:"):
            return value
        p = Path(os.path.expanduser(value))
        return str(p if p.is_absolute() else (self.base_dir / p))


def load_recipe(path: str | Path) -> LoadedRecipe:
    """Read and validate a recipe file; errors name the file and the key path."""
    path = Path(path)
    doc = read_yaml_mapping(path, "recipe")
    return LoadedRecipe(validate_config(doc, Recipe, where=str(path)), path.resolve().parent, str(path))


def recipe_from_dict(doc: dict, base_dir: str | Path = ".", where: str = "recipe") -> LoadedRecipe:
    return LoadedRecipe(validate_config(doc, Recipe, where=where), Path(base_dir).resolve(), where)
