"""Supervised finetuning with TRL's ``SFTTrainer`` and PEFT: LoRA, QLoRA (4-bit) or full.

One training code path for everything: the tiny base's warm-up, each measured (source, seed)
cell, and the recipe runner (``pgfselect train``). Rows are TRL prompt/completion pairs with
images, so the loss covers only the answer letter whatever the chat template.
"""

from __future__ import annotations

import importlib.util
import math
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PGFSelectError
from .config import ModelConfig, TrainingConfig
from .models import VISION_MODULES, detect_runtime, load_model, load_processor, quiet_libraries, vision_module_pattern
from .prompts import training_row


class CellFailed(RuntimeError):
    """A training run that cannot give a meaningful result (e.g. its loss became NaN).
    The grid records it and moves on to the other cells."""


class CellOutOfMemory(PGFSelectError):
    """Out of memory in a cell. The Ray executor retries it (a fresh attempt after the memory of
    the previous one is released may fit); in-process it stops the run with its advice."""


@dataclass
class TrainResult:
    model: object  # the trained model (a PeftModel for lora/qlora)
    processor: object
    steps: int
    train_seconds: float
    final_loss: float | None
    log_history: list = field(default_factory=list)


def training_dataset(items):
    """A ``datasets.Dataset`` of prompt/completion rows with their images."""
    from datasets import Dataset

    if not items:
        raise PGFSelectError("no training items: examples_per_task must be at least 1")
    return Dataset.from_list([training_row(it) for it in items])


def sft_config(training: TrainingConfig, runtime, seed: int, output_dir: str, run_name: str | None = None):
    """The ``SFTConfig`` for a training config; also used by the bare-TRL benchmark."""
    from trl import SFTConfig

    steps = dict(max_steps=training.max_steps) if training.max_steps else dict(num_train_epochs=training.epochs or 1.0)
    total = training.max_steps or 0
    return SFTConfig(
        # The seeds alone make CPU runs repeat exactly (a kill and resume gives the same matrix);
        # full_determinism halves CPU training speed for no change in the numbers.
        output_dir=output_dir, seed=seed, data_seed=seed,
        per_device_train_batch_size=training.batch_size,
        gradient_accumulation_steps=training.gradient_accumulation_steps,
        learning_rate=training.learning_rate, lr_scheduler_type=training.lr_scheduler,
        warmup_steps=training.warmup_ratio, weight_decay=training.weight_decay,
        max_grad_norm=training.max_grad_norm, **steps,
        logging_steps=max(1, min(10, total // 10)) if total else 10,
        # The default filter hides NaN/inf losses from the logs, and so from the NaN check.
        logging_nan_inf_filter=False,
        # TensorBoard is attached as a callback with its own log folder (train_model): the Trainer's
        # would write into output_dir, a temporary folder.
        save_strategy="no", report_to="wandb" if training.report_to == "wandb" else "none",
        run_name=run_name, disable_tqdm=True,
        use_cpu=runtime.device == "cpu", bf16=runtime.dtype == "bfloat16", fp16=runtime.dtype == "float16",
        gradient_checkpointing=training.gradient_checkpointing,
        # Truncation silently drops the answer (NaN loss) or breaks image tokens in VLM batches.
        max_length=None,
        dataloader_num_workers=0, dataloader_pin_memory=runtime.device == "cuda",
    )


def lora_config(training: TrainingConfig, model=None):
    """LoRA on ``target_modules``; not on the vision tower unless ``train_vision`` (module names
    such as ``gate_proj`` or ``all-linear`` match its layers too). With ``model`` the vision
    modules are found from it (any family) and named target modules must exist in it; without,
    the Qwen2-VL family's names."""
    from peft import LoraConfig

    vision = VISION_MODULES if model is None else vision_module_pattern(model)
    if model is not None and isinstance(training.target_modules, list):
        leaves = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        missing = [m for m in training.target_modules if m not in leaves]
        if missing:
            linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                             if type(m).__name__.startswith("Linear") and n})
            raise PGFSelectError(f"training.target_modules {missing[0]!r} is not a module of {type(model).__name__}; "
                                 f"its linear layers: {', '.join(linear)} (or 'all-linear')")
    exclude = None if training.train_vision else rf"{vision}(\..*)?"
    return LoraConfig(r=training.rank, lora_alpha=training.alpha, lora_dropout=training.dropout,
                      target_modules=training.target_modules, exclude_modules=exclude, task_type="CAUSAL_LM")


def freeze_vision(model) -> int:
    """Freeze the vision tower's parameters (full finetuning with ``train_vision: false``), found
    from the model; returns how many tensors were frozen."""
    pattern = re.compile(rf"{vision_module_pattern(model)}(\.|$)")
    frozen = 0
    for name, param in model.named_parameters():
        if pattern.match(name):
            param.requires_grad_(False)
            frozen += 1
    return frozen


def preflight(training: TrainingConfig) -> None:
    """Refuse, before any model loads, a training config whose optional packages are missing."""
    needs = {"qlora": ("bitsandbytes", "training.method 'qlora' needs bitsandbytes: pip install 'pgfselect[qlora]'")}
    needs_report = {"wandb": ("wandb", "training.report_to 'wandb' needs the wandb package: pip install wandb "
                                       "(and wandb login); or use 'tensorboard' or 'none'"),
                    "tensorboard": ("tensorboard", "training.report_to 'tensorboard' needs tensorboard: "
                                                   "pip install 'pgfselect[train]'")}
    for package, message in (needs.get(training.method, (None, None)),
                             needs_report.get(training.report_to, (None, None))):
        if package and importlib.util.find_spec(package) is None:
            raise PGFSelectError(message)


def _report_callbacks(training: TrainingConfig, log_dir):
    """The curve loggers for ``training.report_to`` (wandb goes through SFTConfig.report_to)."""
    preflight(training)
    if training.report_to != "tensorboard":
        return []
    if log_dir is None:
        raise PGFSelectError("training.report_to 'tensorboard' needs a folder for the event files")
    from torch.utils.tensorboard import SummaryWriter
    from transformers.integrations import TensorBoardCallback

    return [TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))]


def _finite_loss_callback():
    from transformers import TrainerCallback

    class StopOnNonFiniteLoss(TrainerCallback):
        """Stops training at the first logged non-finite loss (the rest of the run is wasted)."""

        bad: tuple | None = None

        def on_log(self, args, state, control, logs=None, **kwargs):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(loss):
                self.bad = (state.global_step, loss)
                control.should_training_stop = True

    return StopOnNonFiniteLoss()


def train_model(model_cfg: ModelConfig, base, items, training: TrainingConfig, seed: int,
                out_dir: str | Path | None = None, *, runtime=None, processor=None,
                base_is_path: bool = True, log_dir: str | Path | None = None,
                run_name: str | None = None) -> TrainResult:
    """Finetune ``base`` (a checkpoint path, or a freshly loaded model with ``base_is_path=False``)
    on ``items``. With ``out_dir`` the adapter (or the full model and its processor) is saved there;
    ``log_dir``: where TensorBoard event files go (``training.report_to: tensorboard``).

    A 4-bit (qlora) base must be loaded fresh for training: one that already ran an inference
    forward fails on CPU in bitsandbytes' ``result += bias`` (an in-place op on a view of a leaf).

    Raises :class:`CellFailed` on a non-finite loss and :class:`PGFSelectError` on out-of-memory.
    """
    import torch
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    quiet_libraries()
    runtime = runtime or detect_runtime(model_cfg)
    reporters = _report_callbacks(training, log_dir)  # refuse before loading anything
    dataset = training_dataset(items)
    if base_is_path:
        processor = processor or load_processor(base, model_cfg)
        model = load_model(base, model_cfg, runtime, quantize_4bit=training.method == "qlora",
                           quantize_vision=training.train_vision)
    else:
        model = base
    if training.method == "full" and not training.train_vision:
        freeze_vision(model)
    callback = _finite_loss_callback()
    with tempfile.TemporaryDirectory(prefix="pgfselect-sft-") as tmp:
        trainer = SFTTrainer(model=model, args=sft_config(training, runtime, seed, tmp, run_name),
                             train_dataset=dataset, processing_class=processor, callbacks=[callback, *reporters],
                             peft_config=None if training.method == "full" else lora_config(training, model))
        trainer.remove_callback(PrinterCallback)  # its per-log prints would break the progress display
        start = time.perf_counter()
        try:
            trainer.train()
        except torch.OutOfMemoryError:
            raise CellOutOfMemory(
                f"out of memory while training with batch_size {training.batch_size}: lower "
                "training.batch_size (raise gradient_accumulation_steps to keep the effective batch), "
                "enable training.gradient_checkpointing, or lower model.max_pixels") from None
        seconds = time.perf_counter() - start  # (TensorBoardCallback closes its writer at train end)
    if callback.bad is not None:
        step, loss = callback.bad
        raise CellFailed(f"loss became {loss} at step {step} (lower training.learning_rate "
                         "or check the data); the cell was stopped")
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model = trainer.model
    model.eval()
    steps, history = trainer.state.global_step, list(trainer.state.log_history)
    # The trainer holds the optimizer state (2x the trainable weights) and, through its
    # accelerator, the model: drop it now so the caller's release frees both.
    trainer.accelerator.free_memory()
    del trainer
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        if training.method == "full":
            processor.save_pretrained(out_dir)
    return TrainResult(model=model, processor=processor, steps=steps, train_seconds=seconds,
                       final_loss=losses[-1] if losses else None, log_history=history)
