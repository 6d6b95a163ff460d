"""Planner speed: 13 sources (published 7B matrix), 1,000 sources × 10 targets, and the wall time
of `pgfselect plan` as a ratio to `python -c "import cvxpy"` measured in the same run.

    .venv/bin/python benchmarks/plan_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from pgfselect import MixturePlanner, PGFMatrix, load_matrix


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    out = {}
    m7 = load_matrix("published:qwen2.5-vl-7b")
    MixturePlanner("counting", "2k").fit(m7)  # warm: cvxpy import
    out["plan_13_sources_s"] = median_time(lambda: MixturePlanner("counting", "2k").fit(m7), args.repeats)

    rng = np.random.default_rng(0)
    n_src, n_tgt = 1000, 10
    names_src = [f"src{i}" for i in range(n_src)]
    names_tgt = [f"tgt{j}" for j in range(n_tgt)]
    big = PGFMatrix.from_values(rng.normal(0.02, 0.1, (4, n_src, n_tgt)), names_src, names_tgt)
    targets = {t: 1.0 for t in names_tgt}
    caps = {"default": 500}
    fit_big = lambda: MixturePlanner(targets, "20k", available=caps).fit(big)  # noqa: E731
    p = fit_big()
    out["plan_1000x10_s"] = median_time(fit_big, args.repeats)
    out["plan_1000x10_sources_used"] = len(p.allocation_)
    out["plan_1000x10_status"] = p.status_

    bin_dir = Path(sys.executable).parent
    cli = lambda: subprocess.run([str(bin_dir / "pgfselect"), "plan", "-t", "counting", "-b", "2k"],  # noqa: E731
                                 check=True, capture_output=True)
    imp = lambda: subprocess.run([sys.executable, "-c", "import cvxpy"], check=True)  # noqa: E731
    cli(), imp()  # warm the file cache
    out["cli_plan_wall_s"] = median_time(cli, args.repeats)
    out["import_cvxpy_wall_s"] = median_time(imp, args.repeats)
    out["cli_plan_over_import_cvxpy"] = out["cli_plan_wall_s"] / out["import_cvxpy_wall_s"]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}, indent=2))


if __name__ == "__main__":
    main()
