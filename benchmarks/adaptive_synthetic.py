"""Adaptive measurement on the synthetic suite: how many finetunes reach the full grid's plan? (issue 10)

For every target of a measured synthetic grid (``selection_synthetic.py --stage measure``), runs
``measure --adaptive`` (suggest → measure a source on every seed → refit → plan, stop when the plan
stops changing or at ``--max-finetunes``) and compares its last plan with the plan made on the full
grid. The adaptive runs reuse the grid's cached cells (same config, same seeds: the same numbers a
fresh finetune would give), so the study costs seconds; "finetunes" counts what a user without the
grid would have trained.

A plan's value is scored on the *full* grid: v(x) = Σ_i PGF_full(i→T) · g(x_i), with the planner's
saturation g(x) = log(1 + x/s) / log(1 + r/s). Regret = v(full plan) − v(adaptive plan). Baseline:
the same number of sources measured in a random order (10 orders), then planned the same way.

    .venv/bin/python benchmarks/adaptive_synthetic.py                       # no prior: random first source
    .venv/bin/python benchmarks/adaptive_synthetic.py --prior skills         # data card's skills table
    .venv/bin/python benchmarks/adaptive_synthetic.py --prior published:qwen2.5-vl-3b
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def skills_prior(tasks: list[str]):
    """The data card's skills table (Jaccard overlap of skill sets) as a prior matrix."""
    from pgfselect.matrix import PGFMatrix
    from pgfselect.tasks.synthetic import expected_overlap

    names, overlap = expected_overlap()
    order = [names.index(t.split(":", 1)[1]) for t in tasks]
    values = np.array(overlap)[np.ix_(order, order)][None]
    return PGFMatrix.from_values(values, tasks, tasks, model="skills-table", name="skills-table")


def plan_value(allocation: dict, full, target: str, saturation: float, reference: float) -> float:
    mean = full.mean()
    j = full.targets.index(target)
    return float(sum(mean[full.sources.index(s), j] * math.log1p(x / saturation) / math.log1p(reference / saturation)
                     for s, x in allocation.items()))


def allocation_overlap(a: dict, b: dict, budget: int) -> float:
    """Share of the budget two plans put on the same sources (1 = the same plan)."""
    return sum(min(a.get(s, 0), b.get(s, 0)) for s in set(a) | set(b)) / budget


def summarize(rows: dict, budget: int) -> dict:
    for r in rows.values():
        r["allocation_overlap"] = round(allocation_overlap(r["full_plan"], r["adaptive_plan"], budget), 4)
    return {
        "mean_finetunes": float(np.mean([r["finetunes"] for r in rows.values()])),
        "same_plan": sum(r["same_sources_as_full_plan"] for r in rows.values()),
        "mean_allocation_overlap": float(np.mean([r["allocation_overlap"] for r in rows.values()])),
        "targets_overlap_ge_0.75": sum(r["allocation_overlap"] >= 0.75 for r in rows.values()),
        "mean_regret": float(np.mean([r["regret"] for r in rows.values()])),
        "mean_random_order_regret": float(np.mean([r["random_order_regret_mean"] for r in rows.values()
                                                   if r["random_order_regret_mean"] is not None])),
        "mean_value_full_plan": float(np.mean([r["value_full_plan"] for r in rows.values()])),
    }


def random_order_regret(cfg, full, target, n_sources, budget, priors, rng, best, saturation, reference):
    """Regret of planning after measuring ``n_sources`` random sources (cells read from the grid)."""
    from pgfselect.measure.adaptive import current_plan
    from pgfselect.predict import with_all_sources

    others = [t for t in cfg.tasks if t != target]
    picked = [str(t) for t in rng.choice(others, size=n_sources, replace=False)]
    partial = with_all_sources(full.subset(sources=picked))
    plan = current_plan(partial, target, budget, priors)  # planned as the adaptive loop plans
    if "error" in plan:  # too little measured to plan without a prior
        return None
    return best - plan_value(plan["allocation"], full, target, saturation, reference)


def main():
    from pgfselect.matrix import load
    from pgfselect.measure.adaptive import measure_adaptive
    from pgfselect.measure.config import load_config
    from pgfselect.plan import MixturePlanner

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", type=Path, default=ROOT / "benchmarks" / "work" / "selection",
                    help="work folder of selection_synthetic.py (matrix/ and cache/)")
    ap.add_argument("--measure-config", default=str(ROOT / "recipes" / "measure-synthetic.yaml"))
    ap.add_argument("--prior", default="none", help="none (a random first source), skills, or a matrix")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--max-finetunes", type=int, default=8)
    ap.add_argument("--patience", type=int, default=1, help="stop when the plan has not changed for this many sources")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "adaptive_synthetic.json")
    args = ap.parse_args()

    cfg = load_config(args.measure_config)
    grid_dir = args.grid / "matrix"
    full = load(grid_dir)
    reference = float(cfg.training.max_steps * cfg.training.batch_size)  # examples seen per source
    saturation = 500.0
    priors = [] if args.prior == "none" else [skills_prior(cfg.tasks)] if args.prior == "skills" else [load(args.prior)]
    rng = np.random.default_rng(0)
    rows = {}
    start = time.perf_counter()
    for target in cfg.tasks:
        full_plan = MixturePlanner(target, args.budget, saturation=saturation,
                                   reference_examples=reference).fit(full)
        best = plan_value(full_plan.allocation_, full, target, saturation, reference)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            out.mkdir()
            shutil.copytree(grid_dir / "cells", out / "cells")  # the grid's finished cells: reused, not retrained
            first = [] if priors else [str(rng.choice([t for t in cfg.tasks if t != target]))]
            run_cfg = cfg.model_copy(update={"sources": first})
            doc = measure_adaptive(run_cfg, out, target, args.max_finetunes, priors=priors, budget=args.budget,
                                   patience=args.patience, cache_dir=args.grid / "cache", show_progress=False, log=lambda *_: None)
        last = doc["steps"][-1]["plan"] or {}
        alloc = last.get("allocation", {})
        n_sources = len(doc["steps"][-1]["measured"])
        regret = best - plan_value(alloc, full, target, saturation, reference)
        random_regrets = [r for r in (random_order_regret(cfg, full, target, n_sources, args.budget, priors,
                                                          rng, best, saturation, reference) for _ in range(10))
                          if r is not None]
        rows[target] = {
            "sources_measured": n_sources, "finetunes": doc["finetunes"], "full_grid_finetunes": 12 * len(cfg.seeds),
            "stopped": doc["steps"][-1].get("stopped"),
            "same_sources_as_full_plan": sorted(alloc) == sorted(full_plan.allocation_),
            "full_plan": full_plan.allocation_, "adaptive_plan": alloc,
            "value_full_plan": round(best, 4), "regret": round(regret, 4),
        "value_adaptive_plan": round(best - regret, 4),
            "random_order_regret_mean": round(float(np.mean(random_regrets)), 4) if random_regrets else None,
        }
        print(f"{target}: {n_sources} sources, regret {regret:+.3f} "
              f"(random order {rows[target]['random_order_regret_mean']}), {rows[target]['stopped']}")
    summary = {"prior": args.prior, "patience": args.patience, "budget": args.budget,
               "max_finetunes": args.max_finetunes, "grid": str(grid_dir), "targets": rows,
               "full_grid_finetunes": 12 * len(cfg.seeds), **summarize(rows, args.budget),
               "seconds": round(time.perf_counter() - start, 1)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    existing[f"{args.prior}, patience {args.patience}"] = summary
    args.out.write_text(json.dumps(existing, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "targets"}, indent=1))


if __name__ == "__main__":
    main()
