"""Supervised finetuning with TRL's ``SFTTrainer`` and PEFT: LoRA, QLoRA (4-bit) or full.

One training code path for everything: the tiny base's warm-up, each measured (source, seed)
cell, and the recipe runner (``pgfselect train``). Rows are TRL prompt/completion pairs with
images, so the loss covers only the answer letter whatever the chat template.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PGFSelectError
from .config import ModelConfig, TrainingConfig


class CellFailed(RuntimeError):
    """A training run that cannot give a meaningful result (e.g. its loss became NaN).
    The grid records it and moves on to the other cells."""


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

    from .prompts import training_row

    if not items:
        raise PGFSelectError("no training items: examples_per_task must be at least 1")
    return Dataset.from_list([training_row(it) for it in items])


def sft_config(training: TrainingConfig, runtime, seed: int, output_dir: str):
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
        save_strategy="no", report_to="none", disable_tqdm=True,
        use_cpu=runtime.device == "cpu", bf16=runtime.dtype == "bfloat16", fp16=runtime.dtype == "float16",
        gradient_checkpointing=training.gradient_checkpointing,
        # Truncation silently drops the answer (NaN loss) or breaks image tokens in VLM batches.
        max_length=None,
        dataloader_num_workers=0, dataloader_pin_memory=runtime.device == "cuda",
    )


def lora_config(training: TrainingConfig):
    from peft import LoraConfig

    return LoraConfig(r=training.rank, lora_alpha=training.alpha, lora_dropout=training.dropout,
                      target_modules=training.target_modules, task_type="CAUSAL_LM")


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
                base_is_path: bool = True) -> TrainResult:
    """Finetune ``base`` (a checkpoint path, or a loaded model with ``base_is_path=False``) on
    ``items``. With ``out_dir`` the adapter (or the full model and its processor) is saved there.

    Raises :class:`CellFailed` on a non-finite loss and :class:`PGFSelectError` on out-of-memory.
    """
    import torch
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    from .models import detect_runtime, load_model, load_processor, quiet_libraries

    quiet_libraries()
    runtime = runtime or detect_runtime(model_cfg)
    if training.method == "qlora" and runtime.device != "cuda":
        raise PGFSelectError("training.method 'qlora' needs a CUDA GPU (bitsandbytes 4-bit); "
                             "use 'lora' on CPU")
    if base_is_path:
        processor = processor or load_processor(base, model_cfg)
        model = load_model(base, model_cfg, runtime, quantize_4bit=training.method == "qlora")
    else:
        model = base
    dataset = training_dataset(items)
    callback = _finite_loss_callback()
    with tempfile.TemporaryDirectory(prefix="pgfselect-sft-") as tmp:
        trainer = SFTTrainer(model=model, args=sft_config(training, runtime, seed, tmp), train_dataset=dataset,
                             processing_class=processor, callbacks=[callback],
                             peft_config=None if training.method == "full" else lora_config(training))
        trainer.remove_callback(PrinterCallback)  # its per-log prints would break the progress display
        start = time.perf_counter()
        try:
            trainer.train()
        except torch.OutOfMemoryError:
            raise PGFSelectError(
                f"out of memory while training with batch_size {training.batch_size}: lower "
                "training.batch_size (raise gradient_accumulation_steps to keep the effective batch), "
                "enable training.gradient_checkpointing, or lower model.max_pixels") from None
        seconds = time.perf_counter() - start
    if callback.bad is not None:
        step, loss = callback.bad
        raise CellFailed(f"loss became {loss} at step {step} (lower training.learning_rate "
                         "or check the data); the cell was stopped")
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    model = trainer.model
    model.eval()
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out_dir)
        if training.method == "full":
            processor.save_pretrained(out_dir)
    return TrainResult(model=model, processor=processor, steps=trainer.state.global_step,
                       train_seconds=seconds, final_loss=losses[-1] if losses else None,
                       log_history=list(trainer.state.log_history))
