"""Wall time and peak memory of a whole `pgfselect measure` run, then of a rerun (all cells reused).

    .venv/bin/python benchmarks/measure_grid.py recipes/measure-tiny.yaml --out /tmp/tiny [--seeds 0]
    .venv/bin/python benchmarks/measure_grid.py recipes/measure-synthetic.yaml --out /tmp/grid --seeds 0 --executor ray

Peak memory is the largest resident set of the measure process (for --executor local it holds
everything; Ray workers are separate processes and are sampled from /proc while the run lasts).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants (Linux /proc), in MB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as fh:
                stack += [int(c) for c in fh.read().split()]
        except OSError:
            continue
    return total / 1024


def run(cmd, env) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.5)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = proc.wait()
    t.join()
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} exited with {rc}")
    return time.perf_counter() - start, peak[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default=None, help="override seeds, e.g. '0' or '0,1'")
    ap.add_argument("--executor", default="local")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    doc = yaml.safe_load(Path(args.config).read_text())
    if args.seeds is not None:
        doc["seeds"] = [int(s) for s in args.seeds.split(",")]
    cfg = Path(tempfile.mkdtemp(prefix="bench-grid-")) / Path(args.config).name
    cfg.write_text(yaml.safe_dump(doc, sort_keys=False))
    cmd = [sys.executable, "-m", "pgfselect", "measure", str(cfg), "--out", args.out, "--executor", args.executor,
           "--quiet"]
    env = dict(os.environ)
    first, peak = run(cmd, env)
    second, _ = run(cmd, env)
    run_doc = json.loads((Path(args.out) / "run.json").read_text())
    out = {"config": args.config, "seeds": doc["seeds"], "executor": args.executor, "cells": run_doc["total"],
           "first_run_seconds": round(first, 1), "rerun_seconds": round(second, 1),
           "rerun_fraction": round(second / first, 3), "rerun_reused": run_doc["reused"],
           "peak_rss_mb": round(peak, 0),
           "max_rss_self_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 0)}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
