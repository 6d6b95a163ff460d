"""Training overhead of pgfselect's `train_model` vs a bare TRL `SFTTrainer` (goal <= 5%).

Both load the same tiny base from disk, build a dataset of the same 512 rows, and train LoRA in
float32 (TRL's SFTConfig defaults to bf16, which is slower on this CPU: set off on both sides)
with the same settings; wall time includes loading, dataset construction and training.
Alternating runs, best of --repeats each.

    .venv/bin/python benchmarks/measure_training.py [--steps 100] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForImageTextToText
    from trl import SFTConfig, SFTTrainer

    from pgfselect.measure.config import ModelConfig, TrainingConfig
    from pgfselect.measure.models import build_tiny, load_processor, quiet_libraries
    from pgfselect.measure.prompts import prompt_text_for_tokenizer, training_row
    from pgfselect.measure.training import train_model
    from pgfselect.tasks import get_task

    quiet_libraries()
    torch.set_num_threads(args.threads)
    items = get_task("synthetic:Counting").items("train", n=512, seed=0)
    base = tempfile.mkdtemp(prefix="bench-train-")
    build_tiny("t128", [prompt_text_for_tokenizer(it) for it in items], base)
    model_cfg = ModelConfig(path="tiny:t128", cpu_threads=args.threads)
    training = TrainingConfig(method="lora", rank=16, alpha=32, learning_rate=2e-3, max_steps=args.steps,
                              batch_size=8, lr_scheduler="cosine")

    def ours():
        train_model(model_cfg, base, items, training, seed=0)

    def bare():
        processor = load_processor(base, model_cfg)
        model = AutoModelForImageTextToText.from_pretrained(base, dtype=torch.float32)
        ds = Dataset.from_list([training_row(it) for it in items])
        with tempfile.TemporaryDirectory() as out:
            cfg = SFTConfig(output_dir=out, seed=0, data_seed=0, max_steps=args.steps, per_device_train_batch_size=8,
                            learning_rate=2e-3, lr_scheduler_type="cosine", save_strategy="no", report_to="none",
                            use_cpu=True, bf16=False, max_length=None, gradient_checkpointing=False, disable_tqdm=True,
                            logging_steps=10, dataloader_pin_memory=False)
            SFTTrainer(model=model, args=cfg, train_dataset=ds, processing_class=processor,
                       peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                              task_type="CAUSAL_LM")).train()

    times = {"ours": [], "bare": []}
    for _ in range(args.repeats):
        for name, fn in (("bare", bare), ("ours", ours)):
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    out = {"steps": args.steps, "threads": args.threads, "ours_seconds": times["ours"], "bare_seconds": times["bare"],
           "overhead_best": min(times["ours"]) / min(times["bare"]) - 1,
           "overhead_median": statistics.median(times["ours"]) / statistics.median(times["bare"]) - 1}
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
