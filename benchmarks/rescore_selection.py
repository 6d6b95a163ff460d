"""The selection study re-scored with the planner's new default (issue 16).

The new default (mean-variance, κ = 0) is re-planned for every target on the study's matrix. Where
its mixture is exactly the one an arm of the study trained (same sources, same counts, same
budget), that arm's runs measure the new default's plan, and are reused; targets where it is not
are listed as needing new runs. Reads results/selection_synthetic{,_b500,_s38}.json.

    .venv/bin/python benchmarks/rescore_selection.py     # writes results/selection_synthetic_rescored.json
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
VARIANTS = {"": 2000, "_s38": 2000, "_b500": 500}


def main():
    from pgfselect import MixturePlanner, load_matrix

    matrix = load_matrix(RESULTS / "selection_synthetic_matrix.csv")
    out = {"matrix": "benchmarks/results/selection_synthetic_matrix.csv", "planner": "default (mean_variance, kappa 0)",
           "variants": {}}
    for label, budget in VARIANTS.items():
        study = json.loads((RESULTS / f"selection_synthetic{label}.json").read_text())
        rows, missing = {}, []
        for target, arms in study["targets"].items():
            tid = f"synthetic:{target}"
            new = MixturePlanner(tid, budget).fit(matrix).allocation_
            kappa = study.get("planner", {}).get("kappa", 1.0)  # the first study predates the key: κ = 1
            old_best = MixturePlanner(tid, budget, strategy="best_single", objective="saturating",
                                      kappa=kappa).fit(matrix).allocation_
            if new == old_best and "best_single" in arms:
                rows[target] = {"new_default": arms["best_single"], "old_pgf": arms["pgf"], "same_as": "best_single",
                                "allocation": {k.split(":", 1)[1]: v for k, v in new.items()},
                                **{k: arms[k] for k in ("random", "uniform", "direct", "zero_shot") if k in arms}}
            else:
                missing.append(target)
        wins = {ref: sum(r["new_default"]["mean"] > r[ref]["mean"] for r in rows.values() if ref in r)
                for ref in ("old_pgf", "random", "uniform")}
        inside = sum(r["direct"]["mean"] <= r["new_default"]["ci_high"] for r in rows.values()
                     if "direct" in r and r["new_default"]["ci_high"] is not None)
        mean = {k: sum(r[k]["mean"] for r in rows.values()) / max(len(rows), 1)
                for k in ("new_default", "old_pgf", "random", "uniform", "direct")}
        out["variants"][label or "_s500"] = {"budget": budget, "targets": rows, "needs_new_runs": missing,
                                             "new_default_beats": wins, "direct_inside_or_below_ci": inside,
                                             "mean_accuracy": mean}
        print(f"{label or '_s500'} (budget {budget}): reused {len(rows)}/13, beats {wins}, direct inside CI {inside}, "
              f"means {', '.join(f'{k} {v:.3f}' for k, v in mean.items())}")
    (RESULTS / "selection_synthetic_rescored.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
