"""Synthetic task generation speed, items per second on one core, per task and overall.

    .venv/bin/python benchmarks/tasks_generation.py [--n 400] [--size 112] [--difficulty 0.3]

The default difficulty here (0.3) draws more distractors and noise than the tasks' default (0),
so the figures are conservative.

CPU time (``time.process_time``) is the figure that counts on a shared machine: it is what one
core spends, whatever else runs beside it; wall time is printed too. Generation is pure
Python/PIL/numpy in one thread, so one process uses one core.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # keep numpy to one core

from pgfselect.names import BLINK_TASKS  # noqa: E402
from pgfselect.tasks import get_task  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="items per task")
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--difficulty", type=float, default=0.3)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    rows = []
    for name in BLINK_TASKS:
        task = get_task(f"synthetic:{name}", size=args.size, difficulty=args.difficulty)
        task.items("train", n=5, seed=99)  # warm caches (fonts, noise bank, coordinate grids)
        c0, w0 = time.process_time(), time.perf_counter()
        task.items("train", n=args.n, seed=0)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        rows.append({"task": name, "images": task.n_images, "cpu_s": cpu, "wall_s": wall,
                     "items_per_cpu_s": args.n / cpu, "items_per_wall_s": args.n / wall})
    total_cpu = sum(r["cpu_s"] for r in rows)
    total_wall = sum(r["wall_s"] for r in rows)
    n_all = args.n * len(rows)
    print(f"{args.n} items per task, size {args.size} px, difficulty {args.difficulty}\n")
    print("| task | images | items/s (CPU time) | items/s (wall) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['task']} | {r['images']} | {r['items_per_cpu_s']:.0f} | {r['items_per_wall_s']:.0f} |")
    print(f"| **all 13** (equal mix) | | **{n_all / total_cpu:.0f}** | {n_all / total_wall:.0f} |")
    slowest = min(rows, key=lambda r: r["items_per_cpu_s"])
    print(f"\nslowest: {slowest['task']} {slowest['items_per_cpu_s']:.0f} items/s; goal >= 500 items/s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows, "overall_items_per_cpu_s": n_all / total_cpu}, fh, indent=2)


if __name__ == "__main__":
    main()
