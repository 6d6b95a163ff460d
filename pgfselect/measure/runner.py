"""Finetune-and-evaluate on one base model: the functions ``measure`` and ``train`` both call.

A :class:`ModelSession` holds what every cell on one base shares: the base path, the processor,
the device and the preprocessed evaluation sets. Each finetune starts from a freshly loaded base,
so a cell's numbers never depend on which cells ran before it in the same process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .config import EvalConfig, ModelConfig, TrainingConfig
from .models import detect_runtime, load_model, load_processor, quiet_libraries, release_memory
from .scoring import EvalSet, score
from .training import CellOutOfMemory, preflight, train_model


@dataclass
class CellOutcome:
    results: dict  # task id -> ScoreResult.record()
    train: dict = field(default_factory=dict)  # steps, final_loss, train_seconds, item_ids
    eval_seconds: float = 0.0


class ModelSession:
    """A base model (path), its processor and runtime, and cached evaluation sets."""

    def __init__(self, model_cfg: ModelConfig, base_path: str, eval_cfg: EvalConfig | None = None):
        quiet_libraries()
        self.model_cfg = model_cfg
        self.base_path = base_path
        self.eval_cfg = eval_cfg or EvalConfig()
        self.runtime = detect_runtime(model_cfg)
        self.processor = load_processor(base_path, model_cfg)
        self._eval_sets: dict = {}

    def eval_set(self, task_id: str, items):
        """The preprocessed set for ``task_id`` (built on first use, then reused)."""
        key = (task_id, tuple(it.id for it in items))
        if key not in self._eval_sets:
            self._eval_sets[key] = EvalSet(task_id, items, self.processor, self.eval_cfg.batch_size,
                                           dtype=self.runtime.torch_dtype)
        return self._eval_sets[key]

    def load_base(self, training: TrainingConfig | None = None):
        """A fresh copy of the base, 4-bit for ``training.method == 'qlora'`` (so the zero-shot
        score of a QLoRA grid is the quantized base's, the model its adapters start from)."""
        qlora = training is not None and training.method == "qlora"
        return load_model(self.base_path, self.model_cfg, self.runtime, quantize_4bit=qlora,
                          quantize_vision=qlora and training.train_vision)

    def evaluate(self, model, eval_items: dict) -> dict:
        """{task id: ScoreResult.record()} for ``model`` on each task's items."""
        import torch

        out = {}
        for task_id, items in eval_items.items():
            try:
                res = score(model, self.eval_set(task_id, items), self.runtime.device,
                            format_check=self.eval_cfg.format_check, processor=self.processor)
            except torch.OutOfMemoryError:
                raise CellOutOfMemory(f"out of memory while scoring {task_id} with evaluation.batch_size "
                                     f"{self.eval_cfg.batch_size}: lower evaluation.batch_size") from None
            out[task_id] = res.record()
        return out

    def evaluate_base(self, eval_items: dict, training: TrainingConfig | None = None) -> CellOutcome:
        """Zero-shot scores; with ``training`` the base as its finetunes load it (4-bit for qlora)."""
        start = time.perf_counter()
        model = self.load_base(training)
        try:
            results = self.evaluate(model, eval_items)
        finally:  # the next cell must not find this model still resident
            del model
            release_memory()
        return CellOutcome(results, eval_seconds=time.perf_counter() - start)

    def finetune_and_evaluate(self, train_items, training: TrainingConfig, seed: int, eval_items: dict,
                              out_dir=None, log_dir=None, run_name: str | None = None) -> CellOutcome:
        """Train on ``train_items`` from a freshly loaded base, then score on every task in
        ``eval_items``. ``out_dir``: where the adapter (or full model) is saved; None keeps nothing.
        The model, its optimizer state and the CUDA cache are released before returning."""
        preflight(training)  # before the base loads
        model = res = None
        try:
            model = self.load_base(training)
            res = train_model(self.model_cfg, model, train_items, training, seed, out_dir, runtime=self.runtime,
                              processor=self.processor, base_is_path=False, log_dir=log_dir, run_name=run_name)
            train = {"item_ids": [it.id for it in train_items], "steps": res.steps,
                     "final_loss": res.final_loss, "train_seconds": round(res.train_seconds, 3)}
            start = time.perf_counter()
            results = self.evaluate(res.model, eval_items)
        finally:
            del model, res
            release_memory()
        return CellOutcome(results, train, time.perf_counter() - start)


def evaluate_base(model_cfg: ModelConfig, eval_items: dict, eval_cfg: EvalConfig | None = None,
                  base_path: str | None = None) -> dict:
    """Zero-shot scores: {task id: {"correct", "n", "format_ok", "predictions"}}.
    ``base_path`` defaults to the checkpoint (a tiny model needs :func:`bases.prepare_base`)."""
    session = ModelSession(model_cfg, base_path or model_cfg.path, eval_cfg)
    return session.evaluate_base(eval_items).results


def finetune_and_evaluate(model_cfg: ModelConfig, training_cfg: TrainingConfig, train_items, eval_items: dict,
                          seed: int, out_dir=None, eval_cfg: EvalConfig | None = None,
                          base_path: str | None = None) -> dict:
    """Finetune on ``train_items`` and score on each task of ``eval_items`` ({task id: items}):
    {task id: {"correct", "n", "format_ok", "predictions"}}."""
    session = ModelSession(model_cfg, base_path or model_cfg.path, eval_cfg)
    return session.finetune_and_evaluate(train_items, training_cfg, seed, eval_items, out_dir).results
