"""GPU check of the real-model path (run by benchmarks/gpu_check.sh on a GPU machine; UNRUN so far).

No checkpoint is there and no hub can be reached, so it builds a randomly initialised Qwen2.5-VL
with the real 3B or 7B architecture sizes (below, from the official config.json files) and the
real processor files (../shared/fixtures/qwen2.5-vl-processor, or a copy given with --files),
then measures with the measure engine itself, for LoRA in bf16 and for QLoRA (4-bit NF4):

- per cell: wall time, training time, peak GPU memory (torch.cuda.max_memory_allocated);
- evaluation throughput (items per second of letter-logit scoring, processor time included);
- two finetune cells back to back: the GPU memory still allocated after each cell (released
  means back at the level before the cell, not one model higher).

Random weights learn nothing here: the accuracies are meaningless, the times and memory are not.

    python benchmarks/gpu_check.py --size 3b --out gpu_check.json
    python benchmarks/gpu_check.py --size tiny --steps 2 --n-items 4   # the script itself, on CPU
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Qwen2.5-VL-3B/7B-Instruct config.json, as published (the parts that size the model).
_VISION = dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, patch_size=14,
               spatial_merge_size=2, temporal_patch_size=2, window_size=112, fullatt_block_indexes=[7, 15, 23, 31],
               hidden_act="silu", in_channels=3, tokens_per_second=2)
_IDS = dict(image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653)
_ROPE = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]}
ARCH = {
    "3b": dict(text_config=dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
                                num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000,
                                rms_norm_eps=1e-6, rope_parameters=_ROPE, bos_token_id=151643, eos_token_id=151645,
                                hidden_act="silu"),
               vision_config={**_VISION, "out_hidden_size": 2048}, tie_word_embeddings=True, **_IDS),
    "7b": dict(text_config=dict(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                                num_attention_heads=28, num_key_value_heads=4, max_position_embeddings=128000,
                                rms_norm_eps=1e-6, rope_parameters=_ROPE, bos_token_id=151643, eos_token_id=151645,
                                hidden_act="silu"),
               vision_config={**_VISION, "out_hidden_size": 3584}, tie_word_embeddings=False, **_IDS),
}


def grid(model_path: str, method: str, args, cuda: bool) -> dict:
    return {
        "name": f"gpu-check-{method}",
        "model": {"path": model_path, "dtype": "bfloat16" if cuda else "float32", "device": "cuda" if cuda else "cpu",
                  "max_pixels": args.max_pixels},
        # 448-px images: 256 visual tokens each; Jigsaw has 3 images per item (multi-image batches)
        "task_options": {"synthetic": {"size": 448}},
        "tasks": ["synthetic:Counting", "synthetic:Jigsaw"],
        "seeds": [0],
        "training": {"method": method, "rank": 8, "alpha": 16, "learning_rate": 2e-4, "max_steps": args.steps,
                     "batch_size": args.batch_size, "examples_per_task": args.steps * args.batch_size,
                     "gradient_checkpointing": True,
                     "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]},
        "evaluation": {"n_items": args.n_items, "batch_size": 16},
        "keep_adapters": False,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=[*sorted(ARCH), "tiny"], default="3b",
                        help="tiny: the fixture's 20 M-parameter config, to try the script on CPU")
    parser.add_argument("--files", type=Path, default=ROOT.parent / "shared" / "fixtures" / "qwen2.5-vl-processor",
                        help="real Qwen2.5-VL processor files (tokenizer, chat template, preprocessor configs)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/pgfselect-gpu-check"))
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--n-items", type=int, default=64)
    parser.add_argument("--max-pixels", type=int, default=401408, help="as the 7B measure recipe: 512 tokens/image")
    parser.add_argument("--methods", default="lora,qlora")
    args = parser.parse_args(argv)

    import torch

    from pgfselect.measure import runner
    from pgfselect.measure.config import validate_config
    from pgfselect.measure.engine import measure
    from pgfselect.measure.checkpoints import build_random_checkpoint

    cuda = torch.cuda.is_available()
    if not cuda and args.size != "tiny":
        print("no CUDA device: this check is for a GPU machine (--size tiny tries the script on CPU)", file=sys.stderr)
        return 2
    arch = json.loads((args.files / "tiny-model-config.json").read_text()) if args.size == "tiny" else ARCH[args.size]

    def gib(stat) -> float:  # GPU memory in GiB (0 on CPU)
        return round(stat() / 2**30, 3) if cuda else 0.0

    sync = torch.cuda.synchronize if cuda else (lambda: None)
    report = {"gpu": torch.cuda.get_device_name(0) if cuda else "none (CPU)", "torch": torch.__version__,
              "size": args.size,
              "settings": {k: str(v) for k, v in vars(args).items()}, "grids": {}}
    ckpt = args.work / f"qwen2.5-vl-{args.size}-random"
    t0 = time.perf_counter()
    if not (ckpt / "model.safetensors.index.json").is_file() and not (ckpt / "model.safetensors").is_file():
        build_random_checkpoint(args.files, arch, ckpt, preprocessor="preprocessor_config.legacy.json",
                                dtype="bfloat16" if cuda else "float32", device="cuda" if cuda else "cpu")
    if cuda:
        torch.cuda.empty_cache()
    report["build_seconds"] = round(time.perf_counter() - t0, 1)
    print(f"built {ckpt} in {report['build_seconds']} s", flush=True)

    cells: list[dict] = []

    def measured(fn, kind):
        def wrapper(self, *a, **k):
            sync()
            before = gib(torch.cuda.memory_allocated)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            out = fn(self, *a, **k)
            sync()
            items = sum(len(v) for v in (a[0] if kind == "base" else a[3]).values())
            cells.append({"kind": kind, "wall_s": round(time.perf_counter() - start, 2),
                          "train_s": out.train.get("train_seconds"), "eval_s": round(out.eval_seconds, 2),
                          "eval_items": items, "eval_items_per_s": round(items / max(out.eval_seconds, 1e-9), 1),
                          "peak_gib": gib(torch.cuda.max_memory_allocated), "allocated_before_gib": before,
                          "allocated_after_gib": gib(torch.cuda.memory_allocated)})
            print(json.dumps(cells[-1]), flush=True)
            return out
        return wrapper

    runner.ModelSession.evaluate_base = measured(runner.ModelSession.evaluate_base, "base")
    runner.ModelSession.finetune_and_evaluate = measured(runner.ModelSession.finetune_and_evaluate, "finetune")
    for method in args.methods.split(","):
        cells.clear()
        start = time.perf_counter()
        summary = measure(validate_config(grid(str(ckpt), method, args, cuda)), args.work / f"run-{method}",
                          cache_dir=args.work, show_progress=False)
        report["grids"][method] = {"wall_s": round(time.perf_counter() - start, 1), "cells": list(cells),
                                   "failed": summary.failed}
        args.out.write_text(json.dumps(report, indent=1))  # what is done survives a timeout
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
