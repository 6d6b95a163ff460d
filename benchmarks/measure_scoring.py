"""Scoring benchmarks for `pgfselect measure` (tiny Qwen2.5-VL on CPU).

1. Letter-logit scoring vs greedy generation of the two tokens a trained model answers with
   (letter, <|im_end|>): examples per second on the same preprocessed batches (goal >= 1.3x).
2. Scoring 13 adapters on one task with pgfselect's scorer (processor run once, EvalSet reused)
   vs the pure forward time of those 13 x batches (goal <= 1.2x): the processor cost is amortised.
   The naive alternative (processor rerun for every adapter) is shown beside it.

    .venv/bin/python benchmarks/measure_scoring.py [--n 256] [--threads 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256, help="evaluation items")
    ap.add_argument("--adapters", type=int, default=13, help="0 skips the adapter benchmark")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model

    from pgfselect.measure.config import ModelConfig
    from pgfselect.measure.models import build_tiny, load_model, load_processor, quiet_libraries, detect_runtime
    from pgfselect.measure.prompts import prompt_text_for_tokenizer
    from pgfselect.measure.scoring import EvalSet, letter_logits, score
    from pgfselect.tasks import get_task

    quiet_libraries()
    torch.set_num_threads(args.threads)
    task = get_task("synthetic:Counting")
    items = task.items("val", n=args.n, seed=0)
    tmp = tempfile.mkdtemp(prefix="bench-score-")
    build_tiny("t128", [prompt_text_for_tokenizer(it) for it in task.items("train", n=256, seed=0)], tmp)
    cfg = ModelConfig(path="tiny:t128")
    runtime = detect_runtime(cfg)
    proc = load_processor(tmp, cfg)
    model = load_model(tmp, cfg, runtime)
    out = {"n_items": args.n, "batch_size": args.batch_size, "threads": args.threads, "model": "tiny:t128"}

    t = time.perf_counter()
    es = EvalSet(task.id, items, proc, args.batch_size)
    out["preprocess_seconds"] = time.perf_counter() - t

    # 1. logits vs generation (same batches, same model; best of 2)
    def best(fn, k=2):
        times = []
        for _ in range(k):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def generate_two():
        # A trained model answers with the letter and <|im_end|>: two new tokens. The random model
        # here may stop at once, so the benchmark forces those two tokens.
        with torch.inference_mode():
            for _, batch in es.batch_slices():
                model.generate(**batch, min_new_tokens=2, max_new_tokens=2, do_sample=False)

    t_logits = best(lambda: letter_logits(model, es, "cpu"))
    t_gen = best(generate_two)
    out["logits_ex_per_s"] = args.n / t_logits
    out["generate_ex_per_s"] = args.n / t_gen
    out["logits_vs_generate"] = t_gen / t_logits

    # 2. 13 adapters on one task
    if not args.adapters:
        return emit(out, args.json)
    pm = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False),
                        adapter_name="a0")
    names = [f"a{k}" for k in range(args.adapters)]
    for name in names[1:]:
        pm.add_adapter(name, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    pm.eval()

    def pure():
        with torch.inference_mode():
            for name in names:
                pm.set_adapter(name)
                for _, batch in es.batch_slices():
                    pm(**batch, logits_to_keep=1)

    def ours():
        shared = EvalSet(task.id, items, proc, args.batch_size)  # the processor runs once for all adapters
        for name in names:
            pm.set_adapter(name)
            score(pm, shared, "cpu")

    def naive():
        for name in names:
            pm.set_adapter(name)
            score(pm, EvalSet(task.id, items, proc, args.batch_size), "cpu")

    t_pure, t_ours, t_naive = best(pure), best(ours), best(naive, 1)
    out.update(adapters=args.adapters, pure_forward_seconds=t_pure, scoring_seconds=t_ours,
               naive_rerun_processor_seconds=t_naive, scoring_vs_pure_forward=t_ours / t_pure,
               naive_vs_pure_forward=t_naive / t_pure)
    emit(out, args.json)


def emit(out: dict, path: str | None) -> None:
    print(json.dumps(out, indent=1))
    if path:
        with open(path, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
