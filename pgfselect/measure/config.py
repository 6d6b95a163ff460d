"""Measurement configuration: pydantic models for the model, training and evaluation settings.

``ModelConfig``, ``TrainingConfig`` and ``EvalConfig`` are shared with the recipe runner
(``pgfselect train``); ``MeasureConfig`` is the grid of ``pgfselect measure``. Errors from
:func:`load_config` name the key path (``training.rank: ...``) and exit 2 from the CLI.

No torch here: validating a config (and the shipped recipes) is fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import PGFSelectError
from ..fileio import read_yaml_mapping
from ..tasks.registry import SOURCES, task_with_options
from ..tasks.schema import PROMPT_VERSION

# t64/t128: tiny Qwen2.5-VL; the others: tiny random models of each family (measure/tiny_families.py)
TINY_SIZES = ("t64", "t128", "qwen3-vl", "gemma3", "smolvlm", "llava-onevision", "internvl")
# transformers' SchedulerType values that need no extra arguments (listed here to avoid importing it)
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup", "inverse_sqrt")
TINY_PREFIX = "tiny:"


def expand_path(raw: str) -> str:
    """``~`` and ``$VARS`` expanded; an unset variable is an error naming it (a path that silently
    kept its ``$NAME`` would only fail later, as a folder not found)."""
    expanded = os.path.expanduser(os.path.expandvars(raw))
    if "$" in expanded:
        var = expanded[expanded.index("$"):].split("/")[0]
        raise ValueError(f"path {raw!r} uses {var}, which is not set in the environment")
    return expanded


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarmupConfig(_Strict):
    """Short full finetune of a tiny random base on the mixed tasks before any adapter.

    LoRA cannot move a random base's output distribution (its frozen, tied embeddings keep every
    logit near zero), so the tiny base first learns the answer format and some visual skill.
    """

    steps: int = Field(200, ge=0)  # 0: no warm-up (a random base; LoRA will not learn on it)
    learning_rate: float = Field(1e-3, gt=0)
    batch_size: int = Field(8, ge=1)
    examples_per_task: int = Field(256, ge=1)
    seed: int = 1234


class ModelConfig(_Strict):
    path: str = Field(..., description="local VLM checkpoint folder (any family with an image-text-to-text "
                                        "model and an image processor), or tiny:SIZE")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # "auto": spread one model too large for one GPU over every GPU the process sees (accelerate's
    # device_map); None puts the whole model on one device.
    device_map: Optional[Literal["auto"]] = None
    # Image resolution bounds for the processor (pixels per image); None keeps the checkpoint's.
    min_pixels: Optional[int] = Field(None, ge=28 * 28)
    max_pixels: Optional[int] = Field(None, ge=28 * 28)
    # The image processor's own size keys (e.g. {height: 448, width: 448} for Gemma 3,
    # {longest_edge: 384} for SmolVLM), for families not bounded by pixels; None keeps the checkpoint's.
    image_size: Optional[dict[str, int]] = None
    attn_implementation: Optional[str] = None
    # torch threads on CPU. 1 is fastest for the tiny model on a busy machine (threads that wait
    # on each other cost more than they gain); also part of the hash, as it can change the float
    # rounding of reductions. None: torch's default.
    cpu_threads: Optional[int] = Field(None, ge=1)
    warmup: Optional[WarmupConfig] = None
    # Weight-init std of a tiny random base (transformers' default 0.02 when unset). 0.1 lets the
    # tiny model learn far more per step (docs/notes/tiny-learnability.md).
    initializer_range: Optional[float] = Field(None, gt=0, le=1)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith(TINY_PREFIX):
            v = expand_path(v)
        if v.startswith(TINY_PREFIX):
            size = v[len(TINY_PREFIX):]
            if size not in TINY_SIZES:
                raise ValueError(f"unknown tiny size {size!r}; valid: {', '.join(TINY_PREFIX + s for s in TINY_SIZES)}")
            return v
        p = Path(v).expanduser()
        if not p.is_dir():
            raise ValueError(f"model folder {v!r} not found; give a local checkpoint folder "
                             f"or {TINY_PREFIX}SIZE ({', '.join(TINY_SIZES)})")
        if not (p / "config.json").is_file():
            raise ValueError(f"model folder {v!r} holds no config.json (not a transformers checkpoint)")
        return str(p.resolve())

    @model_validator(mode="after")
    def _warmup_tiny_only(self):
        if self.warmup is not None and not self.is_tiny:
            raise ValueError("warmup applies only to tiny: models (a pretrained checkpoint needs none)")
        if self.initializer_range is not None and not self.is_tiny:
            raise ValueError("initializer_range applies only to tiny: models (a checkpoint has its weights)")
        if self.image_size is not None and (not self.image_size or any(v < 1 for v in self.image_size.values())):
            raise ValueError(f"image_size {self.image_size} needs one or more size keys with positive pixel values "
                             "(the image processor's own keys, e.g. {height: 896, width: 896})")
        if self.min_pixels and self.max_pixels and self.min_pixels > self.max_pixels:
            raise ValueError(f"min_pixels {self.min_pixels} is above max_pixels {self.max_pixels}")
        return self

    @property
    def is_tiny(self) -> bool:
        return self.path.startswith(TINY_PREFIX)

    def effective_warmup(self) -> Optional[WarmupConfig]:
        """The warm-up that runs: the given one, or the defaults for a tiny base."""
        return self.warmup or (WarmupConfig() if self.is_tiny else None)


class TrainingConfig(_Strict):
    method: Literal["lora", "qlora", "full"] = "lora"
    rank: int = Field(8, ge=1)
    alpha: float = Field(16, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: Union[str, list[str]] = "all-linear"
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    max_steps: Optional[int] = Field(None, ge=1)
    epochs: Optional[float] = Field(None, gt=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(1, ge=1)
    gradient_checkpointing: bool = False
    examples_per_task: Optional[int] = Field(256, ge=1)  # None: the whole train split
    # False (the usual Qwen2.5-VL practice): the vision tower (visual.*, with its merger) stays frozen,
    # gets no LoRA and, with qlora, is not quantized; only the language model is adapted.
    # True: the vision tower is adapted (LoRA on its linear layers, or trained with method full).
    train_vision: bool = False
    # Training curves: "tensorboard" writes event files beside the adapter, "wandb" logs to
    # Weights & Biases (needs the wandb package and a login). Not in the config hash.
    report_to: Literal["none", "tensorboard", "wandb"] = "none"

    @model_validator(mode="after")
    def _steps_or_epochs(self):
        if self.max_steps is not None and self.epochs is not None:
            raise ValueError("give max_steps or epochs, not both")
        return self

    @field_validator("lr_scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        if v not in SCHEDULERS:
            raise ValueError(f"unknown lr_scheduler {v!r}; valid: {', '.join(SCHEDULERS)}")
        return v


class EvalConfig(_Strict):
    split: Literal["train", "val", "test"] = "val"
    n_items: Optional[int] = Field(128, ge=1)  # None: the whole split
    batch_size: int = Field(16, ge=1)
    seed: int = 0  # which items: the same evaluation items for every seed (paired comparison)
    format_check: int = Field(0, ge=0, description="items per task also answered by greedy generation")


class MeasureConfig(_Strict):
    name: str = ""
    model: ModelConfig
    # Options passed to pgfselect.tasks.get_task, keyed by a task source ("blink") or a task id;
    # e.g. {"blink": {"train_fraction": 0.5, "revision": "..."}}.
    task_options: dict[str, dict] = {}
    tasks: list[str] = Field(..., min_length=1)
    sources: Optional[list[str]] = None  # default: every task is also a source
    seeds: list[int] = Field([0], min_length=1)
    training: TrainingConfig = TrainingConfig()
    evaluation: EvalConfig = EvalConfig()
    keep_adapters: bool = True
    # Where cells write their adapters. Must be storage every Ray worker shares with the driver
    # (checked in each worker); None: DIR/adapters (a remote Ray worker sends its adapter back).
    adapters_dir: Optional[str] = None

    @field_validator("adapters_dir")
    @classmethod
    def _adapters_dir(cls, v: Optional[str]) -> Optional[str]:
        return None if v is None else str(Path(expand_path(v)).resolve())

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"seeds must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _task_ids(self):
        # Task ids are checked here, after task_options, because options choose the task's data.
        ids = [self._task_id(name, f"tasks[{k}]") for k, name in enumerate(self.tasks)]
        dup = sorted({t for t in ids if ids.count(t) > 1})
        if dup:
            raise ValueError(f"tasks: task listed twice: {', '.join(dup)}")
        object.__setattr__(self, "tasks", ids)

        for key in self.task_options:
            if key not in SOURCES and key not in ids:
                raise ValueError(f"task_options: key {key!r} is neither a task source ({', '.join(SOURCES)}) "
                                 "nor one of the tasks")
        if self.sources is not None:
            src = [self._task_id(name, f"sources[{k}]") for k, name in enumerate(self.sources)]
            missing = [s for s in src if s not in ids]
            if missing:
                raise ValueError(f"sources: {', '.join(missing)} not in tasks; every source is evaluated "
                                 "as a target too, so list it under tasks")
            object.__setattr__(self, "sources", src)
        return self

    def _task_id(self, name: str, where: str) -> str:
        try:
            return self.task(name).id
        except PGFSelectError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def task(self, task_id: str):
        """The registry task for ``task_id``, with this config's task options."""
        return task_with_options(task_id, self.task_options)

    @property
    def source_tasks(self) -> list[str]:
        return list(self.sources) if self.sources is not None else list(self.tasks)

    def config_hash(self) -> str:
        """Key of the cell cache: everything that changes a cell's numbers.

        Seeds, sources, name, where adapters go and how curves are logged are left out, so adding
        a seed or a source to a finished run reuses its cells; the prompt version and each task's
        provenance are in.
        """
        doc = self.model_dump(mode="json", exclude={"name": True, "seeds": True, "sources": True,
                                                    "keep_adapters": True, "adapters_dir": True,
                                                    "training": {"report_to"}})
        drop_legacy_defaults(doc)
        doc["tasks"] = sorted(self.tasks)
        doc["prompt_version"] = _prompt_version()
        doc["task_provenance"] = {t: self.task(t).provenance() for t in sorted(self.tasks)}
        blob = json.dumps(doc, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def drop_legacy_defaults(doc: dict) -> None:
    """Leave out of a hashed config dump the settings added after cells were first cached, where
    their value reproduces what those cells did (LoRA and full training reached the vision tower,
    one device per model), so those caches and built bases stay valid; the new defaults
    (vision frozen) hash differently, as they train differently."""
    if doc.get("training", {}).get("train_vision") is True:
        del doc["training"]["train_vision"]
    if "model" in doc and doc["model"].get("device_map") is None:
        doc["model"].pop("device_map", None)
    if "model" in doc and doc["model"].get("image_size", 0) is None:
        doc["model"].pop("image_size", None)


def _prompt_version() -> str:
    return str(PROMPT_VERSION)


# ------------------------------------------------------------------ loading and errors
def load_config(path: str | Path, cls: type[BaseModel] = MeasureConfig) -> BaseModel:
    """Read a YAML config and validate it; errors name the file and the key path."""
    return validate_config(read_yaml_mapping(path, "config"), cls, where=str(path))


def validate_config(doc: dict, cls: type[BaseModel] = MeasureConfig, where: str = "config") -> BaseModel:
    try:
        return cls.model_validate(doc)
    except ValidationError as exc:
        raise PGFSelectError(f"{where}: {format_validation_error(exc)}") from None


def format_validation_error(exc: ValidationError) -> str:
    """First error as 'key.path[2]: message' (one line, as PGFSelectError wants)."""
    err = exc.errors()[0]
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = re.sub(r"^(Value|Assertion) error, ", "", err["msg"])
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more error{'s' if more > 1 else ''})" if more else ""
    return f"{path}: {msg}{suffix}" if path else f"{msg}{suffix}"
