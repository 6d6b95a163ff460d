"""Tiny-base preparation: build a tiny random Qwen2.5-VL and warm it up (a short full finetune)
before LoRA can learn anything, cached by a hash of what makes it.

Sits above :mod:`.models` (building and loading) and :mod:`.training` (the warm-up finetune).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from ..tasks.schema import PROMPT_VERSION
from .config import TINY_PREFIX, ModelConfig, TrainingConfig, drop_legacy_defaults
from .models import TINY_SPECS, build_tiny, quiet_libraries
from .tiny_families import build_family
from .prompts import prompt_text_for_tokenizer
from .training import train_model


def base_key(cfg: ModelConfig, tasks: list) -> str:
    """Hash of everything that makes a prepared base: model settings, tasks, prompt version."""
    tasks = sorted(tasks, key=lambda t: t.id)
    doc = {"model": cfg.model_dump(mode="json"), "warmup": _dump(cfg.effective_warmup()),
           "tasks": [t.id for t in tasks], "prompt_version": str(PROMPT_VERSION),
           "provenance": {t.id: t.provenance() for t in tasks}}
    drop_legacy_defaults(doc)  # bases built before model.device_map existed stay valid
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dump(m):
    return None if m is None else m.model_dump(mode="json")


def prepare_base(cfg: ModelConfig, tasks: list, cache_dir: str | Path, log=None) -> str:
    """Path of the base model to finetune: the checkpoint itself, or the built and warmed-up
    tiny model (cached under ``cache_dir/bases/KEY``; built once, reused by every later run)."""
    if not cfg.is_tiny:
        return cfg.path
    quiet_libraries()
    target = Path(cache_dir) / "bases" / base_key(cfg, tasks)
    if (target / "config.json").is_file():
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Processes that need the same base at once (two `train` processes, Ray workers) wait for the
    # first one's build instead of each spending minutes building the same bits.
    with FileLock(str(target.parent / f".{target.name}.lock")):
        if (target / "config.json").is_file():
            return str(target)
        if log:
            log(f"building {cfg.path} and warming it up on {len(tasks)} tasks (cached in {target})")
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        try:
            _build_warm_tiny(cfg, tasks, tmp)
            try:
                os.replace(tmp, target)  # atomic: a killed build leaves only a temp folder
            except OSError:
                if not (target / "config.json").is_file():  # a lock-less (older) builder finished first
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def _build_warm_tiny(cfg: ModelConfig, tasks: list, out: Path) -> None:
    warm = cfg.effective_warmup()
    tasks = sorted(tasks, key=lambda t: t.id)
    items = [it for task in tasks for it in task.items("train", n=warm.examples_per_task, seed=warm.seed)]
    raw = out / "random"
    size = cfg.path[len(TINY_PREFIX):]
    texts = [prompt_text_for_tokenizer(it) for it in items]
    if size in TINY_SPECS:
        build_tiny(size, texts, raw, seed=warm.seed, initializer_range=cfg.initializer_range)
    else:
        build_family(size, texts, raw, seed=warm.seed, initializer_range=cfg.initializer_range)
    if warm.steps:
        # The random base's vision tower has to learn too (train_vision).
        training = TrainingConfig(method="full", train_vision=True, learning_rate=warm.learning_rate,
                                  max_steps=warm.steps, batch_size=warm.batch_size, lr_scheduler="constant_with_warmup",
                                  warmup_ratio=0.05, examples_per_task=warm.examples_per_task)
        res = train_model(cfg, str(raw), items, training, seed=warm.seed, out_dir=out, base_is_path=True)
        losses = [(h["step"], h["loss"]) for h in res.log_history if "loss" in h]
        (out / "warmup.json").write_text(json.dumps({
            "warmup": warm.model_dump(mode="json"), "tasks": [t.id for t in tasks], "steps": res.steps,
            "train_seconds": round(res.train_seconds, 2), "losses": losses,
            "item_ids": [it.id for it in items]}, indent=1))
    else:
        for f in raw.iterdir():
            shutil.move(str(f), out / f.name)
    shutil.rmtree(raw, ignore_errors=True)


def base_fingerprint(cfg: ModelConfig, base_path: str | Path) -> str | None:
    """The fingerprint runs and matrices record of the base they start from: a built tiny base's
    :func:`weights_fingerprint` (its warm-up is bit-identical only on one CPU type, so the same
    settings can give another base on another machine); None for a checkpoint, which its path
    and revision name."""
    return weights_fingerprint(base_path) if cfg.is_tiny else None


def other_base(recorded: str | None, current: str | None) -> bool:
    """Whether a recorded base fingerprint names another base than ``current`` (unknown: no)."""
    return bool(recorded and current and recorded != current)


def weights_fingerprint(base_dir: str | Path) -> str | None:
    """sha256 (16 hex digits) of a prepared base's weights, None when it is not built. Studies
    record it: a tiny base's warm-up is bit-identical only on the same CPU type, and runs from two
    different bases must not be mixed in one result."""
    weights = Path(base_dir) / "model.safetensors"
    if not weights.is_file():
        return None
    digest = hashlib.sha256()
    with weights.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
