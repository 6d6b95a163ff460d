"""The synthetic selection study: does PGF-guided mixing win? (issue 8)

Measures the 13×13 synthetic matrix with the tiny local Qwen2.5-VL, then for each target plans a
mix from the other 12 tasks (the target's own data withheld) and trains the ``pgf`` mix against
``random`` (k = the plan's number of sources), ``uniform``, ``best_single`` and ``direct`` (the
target's own data, same budget), each over several seeds, all under the same budget.

The matrix is measured on the ``val`` split; every strategy is scored on the ``test`` split, which
nothing ever chooses from. Planning (matrix) seeds and evaluation seeds are separate.

Everything is resumable: the matrix lives in the engine's cell cache and each (target, strategy,
seed) run in its recipe folder, so the study can run in chunks (``--targets``, ``--stage``).

    .venv/bin/python benchmarks/selection_synthetic.py --stage all                # everything
    .venv/bin/python benchmarks/selection_synthetic.py --stage measure            # the matrix only
    .venv/bin/python benchmarks/selection_synthetic.py --stage select --targets Counting,Jigsaw
    .venv/bin/python benchmarks/selection_synthetic.py --stage report             # JSON + plot

The planner's saturation s can be fitted for this model from the ``val`` split (every source
finetuned alone on a quarter of the budget and on the whole budget) and a study re-planned with it
in its own runs folder, reusing the baselines that do not depend on the plan:

    .venv/bin/python benchmarks/selection_synthetic.py --stage saturation --executor ray
    .venv/bin/python benchmarks/selection_synthetic.py --stage select --runs targets-s38 --saturation 38 \
        --baselines random
    .venv/bin/python benchmarks/selection_synthetic.py --stage report --runs targets-s38 --saturation 38 \
        --baselines-from targets --label _s38

Whether transfer adds up (the planner's other assumption) is measured on the ``val`` split too: each
target's two best sources trained together on half the budget each, against each alone on half and
on the whole budget (``results/selection_synthetic_pairs.json``):

    .venv/bin/python benchmarks/selection_synthetic.py --stage pairs --seeds 0,1 --executor ray --saturation 38
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = ["random", "uniform", "best_single", "direct", "zero_shot"]
RULES = ("additive", "compounding", "max", "average")  # how the pairs stage combines single-source cells


def measure_stage(args) -> Path:
    from pgfselect.measure.config import load_config
    from pgfselect.measure.engine import measure
    from pgfselect.measure.executors import make_executor

    cfg = load_config(args.measure_config)
    out = args.work / "matrix"
    summary = measure(cfg, out, executor=make_executor(args.executor, None), cache_dir=args.work / "cache",
                      show_progress=not args.quiet)
    print(f"matrix: {summary.matrix} ({summary.computed} cells computed, {summary.reused} reused, "
          f"{len(summary.failed)} failed, {summary.seconds:.0f} s)")
    return out


def probe_matrices(args, sizes, seeds, folder: str) -> list:
    """Single-source matrices trained as the study trains (one epoch on n items of each source,
    no step cap), one per size in ``sizes``, scored on the ``val`` split."""
    from pgfselect.measure.config import validate_config
    from pgfselect.measure.engine import measure
    from pgfselect.measure.executors import make_executor
    from pgfselect.matrix import load as load_matrix

    measure_doc = yaml.safe_load(Path(args.measure_config).read_text())
    matrices = []
    for n in sizes:
        doc = dict(measure_doc, name=f"synthetic-{folder}-{n}", seeds=list(seeds))
        doc["training"] = {k: v for k, v in measure_doc["training"].items() if k != "max_steps"}
        doc["training"].update(epochs=args.epochs, examples_per_task=n)
        out = args.work / folder / f"n{n}"
        summary = measure(validate_config(doc, where=f"{folder} probe n={n}"), out,
                          executor=make_executor(args.executor, None), cache_dir=args.work / "cache",
                          show_progress=not args.quiet)
        print(f"probe n={n}: {summary.matrix} ({summary.computed} cells computed, {summary.reused} reused)")
        matrices.append(load_matrix(out))
    return matrices


def saturation_stage(args) -> float:
    """Fit the planner's saturation s for this model and training schedule (issue 8's "is the
    planner's objective right?"): every source finetuned alone, one epoch as the study trains, on
    a quarter of the budget and on the whole budget, scored on the ``val`` split; s is the value
    whose log(1 + n/s) curve matches how much of the full-budget PGF the quarter already gives."""
    from pgfselect.plan.saturation import fit_saturation

    fit = fit_saturation(*probe_matrices(args, (args.budget // 4, args.budget), [0], "saturation"))
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"selection_synthetic_saturation_{args.budget}.json").write_text(json.dumps(fit.to_dict(), indent=1))
    print(fit.summary())
    return fit.saturation


def pairs_stage(args, targets: list[str]) -> dict:
    """Is transfer additive? (the planner's other assumption). For every target, its two best
    sources by the study's matrix trained together (half the budget each) and each alone on half
    and on the whole budget, all scored on the same ``val`` items: additivity predicts
    PGF(pair) = PGF(a, half) + PGF(b, half)."""
    import numpy as np

    from pgfselect.matrix import load as load_matrix
    from pgfselect.matrix import pgf_from_counts
    from pgfselect.plan import MixturePlanner
    from pgfselect.recipes.runner import RecipeRunner
    from pgfselect.recipes.schema import recipe_from_dict

    half, full = probe_matrices(args, (args.budget // 2, args.budget), args.seeds, "pairs")
    plans_matrix = load_matrix(args.matrix_for_plans)
    out = {"budget": args.budget, "seeds": args.seeds, "split": "val", "n_items": args.eval_items,
           "matrix": _shown(args.matrix_for_plans), "targets": {}}
    for target in targets:
        doc = recipe_for(target, args)
        doc.update(name=f"pairs-{target}", mixture="top_k", baselines=[],
                   matrix=str(Path(args.matrix_for_plans).resolve()),
                   evaluation={"split": "val", "n_items": args.eval_items, "batch_size": 32, "seed": 0})
        doc["planner"]["k"] = 2
        folder = args.work / "pairs-runs" / target
        RecipeRunner(recipe_from_dict(doc, base_dir=ROOT, where=f"pair recipe for {target}"), folder,
                     cache_dir=args.work / "cache", progress=not args.quiet).run()
        tid = f"synthetic:{target}"
        j = half.targets.index(tid)
        pair, alloc = [], None
        base = float(np.nanmean(half.correct_base[:, j]))
        for m in sorted(folder.glob("runs/top_k/seed_*/metrics.json")):
            metrics = json.loads(m.read_text())
            alloc = json.loads((m.parent / "config.json").read_text())["allocation"]
            pair.append(float(pgf_from_counts(metrics["correct"], base, metrics["n"], half.ceiling[j])[0]))
        weights = MixturePlanner(tid, args.budget, strategy="top_k", k=2, kappa=args.kappa).fit(plans_matrix).weights_
        a, b = sorted(alloc, key=lambda n: -weights[n])  # a: the matrix's best source for the target

        def cell(matrix, source):
            return float(np.nanmean(matrix.values[:, matrix.sources.index(source), j]))

        row = {"sources": [a.split(":", 1)[1], b.split(":", 1)[1]], "pair": float(np.mean(pair)), "pair_seeds": pair,
               "a_half": cell(half, a), "b_half": cell(half, b), "a_full": cell(full, a), "b_full": cell(full, b)}
        # Ways to combine the single-source cells: the sum (the planner's objective), compounding
        # (each source closes its fraction of the gap the other left), the better half alone, and
        # the average of the two sources each trained on the whole budget (the mix as a blend).
        row["additive"] = row["a_half"] + row["b_half"]
        row["compounding"] = 1 - (1 - row["a_half"]) * (1 - row["b_half"])
        row["max"] = max(row["a_half"], row["b_half"])
        row["average"] = (row["a_full"] + row["b_full"]) / 2
        row["interaction"] = row["pair"] - row["additive"]
        out["targets"][target] = row
        print(f"{target}: pair {row['pair']:+.3f} vs additive {row['additive']:+.3f} "
              f"(a {row['a_half']:+.3f}, b {row['b_half']:+.3f}); the best source a alone on the budget {row['a_full']:+.3f}")
    rows = list(out["targets"].values())
    inter = np.array([r["interaction"] for r in rows])
    if len(inter) > 1:
        from scipy import stats

        out["interaction"] = {"mean": float(inter.mean()), "negative": int((inter < 0).sum()), "targets": len(inter),
                              "t_ci95": [float(x) for x in stats.t.interval(0.95, len(inter) - 1, inter.mean(),
                                                                             stats.sem(inter))],
                              "pair_over_additive": float(np.sum([r["pair"] for r in rows]) /
                                                          np.sum([r["additive"] for r in rows]))}
        out["mean_abs_error"] = {rule: float(np.mean([abs(r["pair"] - r[rule]) for r in rows]))
                                 for rule in RULES}
        # The planner's alternative to the pair is its best source alone on the whole budget.
        out["pair_vs_best_source"] = {"pair_beats_it": int(sum(r["pair"] > r["a_full"] for r in rows)),
                                      "pair_beats_the_better_of_the_two": int(sum(r["pair"] > max(r["a_full"], r["b_full"])
                                                                                  for r in rows)),
                                      "mean_pair": float(np.mean([r["pair"] for r in rows])),
                                      "mean_best_source_alone": float(np.mean([r["a_full"] for r in rows]))}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "selection_synthetic_pairs.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "targets"}, indent=1))
    return out


def _shown(path) -> str:
    """A path as the results show it: relative to the repository when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def recipe_for(target: str, args) -> dict:
    """A recipe that verifies the plan for ``target`` with the measure config's model and training."""
    measure_cfg = yaml.safe_load(Path(args.measure_config).read_text())
    training = dict(measure_cfg["training"])
    training.pop("examples_per_task", None)  # the budget sets the examples
    training.pop("max_steps", None)
    training["epochs"] = args.epochs
    return {
        "pgfselect_recipe": 1,
        "name": f"selection-synthetic-{target}",
        "model": measure_cfg["model"],
        "target": f"synthetic:{target}",
        "budget": args.budget,
        "matrix": str((args.work / "matrix").resolve()),
        "task_options": measure_cfg.get("task_options", {}),
        "mixture": "pgf",
        "baselines": args.baselines,
        "planner": {"kappa": args.kappa, "saturation": args.saturation},
        "seeds": args.seeds,
        "training": training,
        "evaluation": {"split": "test", "n_items": args.eval_items, "batch_size": 32, "seed": 1000},
    }


def select_stage(args, targets: list[str]) -> None:
    from pgfselect.recipes.runner import RecipeRunner
    from pgfselect.recipes.schema import recipe_from_dict

    for target in targets:
        start = time.perf_counter()
        doc = recipe_for(target, args)
        loaded = recipe_from_dict(doc, base_dir=ROOT, where=f"study recipe for {target}")
        out = args.work / args.runs / target
        RecipeRunner(loaded, out, cache_dir=args.work / "cache", progress=not args.quiet).run()
        print(f"{target}: done in {time.perf_counter() - start:.0f} s -> {out}")


def report_stage(args, targets: list[str]) -> dict:
    from pgfselect.compare import compare, load_runs, plot

    results = args.results
    results.mkdir(parents=True, exist_ok=True)
    out = {"budget": args.budget, "seeds": args.seeds, "matrix": str(args.work / "matrix"),
           "planner": {"kappa": args.kappa, "saturation": args.saturation},
           "baselines_from": args.baselines_from,
           "evaluation": {"split": "test", "n_items": args.eval_items}, "targets": {}}
    for target in targets:
        folder = args.work / args.runs / target
        if not folder.is_dir():
            continue
        rows = compare(load_runs([folder]))
        if args.baselines_from:  # strategies this folder did not train come from a study run with the same runs
            have = {r["strategy"] for r in rows}
            rows += [r for r in compare(load_runs([args.work / args.baselines_from / target]))
                     if r["strategy"] not in have]
        out["targets"][target] = {r["strategy"]: {k: r.get(k) for k in ("mean", "ci_low", "ci_high", "n_seeds")}
                                  for r in rows}
        plot(rows, results / f"selection_synthetic{args.label}_{target}.png",
             title=f"synthetic {target}, budget {args.budget}, saturation {args.saturation:g}")
    out["wins"] = _wins(out["targets"])
    out["pgf_plans"] = {t: _pgf_allocation(args.work / args.runs / t) for t in out["targets"]}
    matrix_csv = args.work / "matrix" / "matrix.csv"
    if matrix_csv.is_file():
        (results / "selection_synthetic_matrix.csv").write_text(matrix_csv.read_text())
    (results / f"selection_synthetic{args.label}.json").write_text(json.dumps(out, indent=1))
    (results / f"selection_synthetic{args.label}.md").write_text(markdown(out))
    summary_plot(out, results / f"selection_synthetic{args.label}.png")
    print(json.dumps(out["wins"], indent=1))
    return out


def _pgf_allocation(folder: Path) -> dict:
    """The pgf mix of a target (the same plan for every seed)."""
    for cfg in sorted(folder.glob("runs/pgf/seed_*/config.json")):
        return {k.split(":", 1)[-1]: v for k, v in json.loads(cfg.read_text())["allocation"].items()}
    return {}


ORDER = ["zero_shot", "pgf", "random", "uniform", "best_single", "direct"]


def markdown(out: dict) -> str:
    """One table per target (accuracy on the test split, mean and 95% CI over seeds) and the goal counts."""
    lines = [f"Budget {out['budget']} examples, seeds {out['seeds']}, {out['evaluation']['n_items']} test items "
             "per target; accuracy mean [95% t-CI over seeds].", ""]
    for target, rows in out["targets"].items():
        plan = ", ".join(f"{k} {v}" for k, v in out["pgf_plans"].get(target, {}).items())
        lines += [f"**{target}** (pgf mix: {plan or '-'})", "", "| strategy | accuracy | 95% CI | seeds |",
                  "|---|---|---|---|"]
        for strategy in ORDER:
            r = rows.get(strategy)
            if r and r["mean"] is not None:
                ci = "-" if r["ci_low"] is None else f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
                lines.append(f"| {strategy} | {r['mean']:.3f} | {ci} | {r['n_seeds']} |")
        lines.append("")
    w = out["wins"]
    lines.append(f"Goal counts over {w['targets']} targets: pgf beats random on {w['pgf_beats']['random']}, "
                 f"uniform on {w['pgf_beats']['uniform']}, best_single on {w['pgf_beats']['best_single']}; "
                 f"direct inside or below pgf's CI on {w['direct_inside_or_below_pgf_ci']}.")
    return "\n".join(lines) + "\n"


def summary_plot(out: dict, path: Path) -> None:
    """Every target's strategies side by side (mean and 95% CI over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(out["targets"])
    if not targets:
        return
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(targets)), 4))
    width = 0.8 / len(ORDER)
    for k, strategy in enumerate(ORDER):
        xs, ys, lo, hi = [], [], [], []
        for i, t in enumerate(targets):
            r = out["targets"][t].get(strategy)
            if r and r["mean"] is not None:
                xs.append(i + (k - len(ORDER) / 2 + 0.5) * width)
                ys.append(r["mean"])
                lo.append(r["mean"] - (r["ci_low"] if r["ci_low"] is not None else r["mean"]))
                hi.append((r["ci_high"] if r["ci_high"] is not None else r["mean"]) - r["mean"])
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=strategy)
    ax.set_xticks(range(len(targets)), [t.replace("_", "\n") for t in targets], fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"synthetic selection study, budget {out['budget']}, seeds {out['seeds']}")
    ax.legend(fontsize=7, ncol=len(ORDER))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _wins(targets: dict) -> dict:
    """Counts for the issue's goals: pgf beats random / uniform (mean), direct inside or below pgf's CI."""
    beats = {"random": 0, "uniform": 0, "best_single": 0}
    direct_ok = 0
    for rows in targets.values():
        pgf = rows.get("pgf")
        if not pgf or pgf["mean"] is None:
            continue
        for b in beats:
            if b in rows and rows[b]["mean"] is not None and pgf["mean"] > rows[b]["mean"]:
                beats[b] += 1
        if "direct" in rows and pgf["ci_high"] is not None and rows["direct"]["mean"] <= pgf["ci_high"]:
            direct_ok += 1
    return {"targets": len(targets), "pgf_beats": beats, "direct_inside_or_below_pgf_ci": direct_ok}


def main():
    from pgfselect.names import BLINK_TASKS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["measure", "saturation", "pairs", "select", "report", "all"], default="all")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "selection")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results",
                    help="where the JSON, the matrix copy and the plots go")
    ap.add_argument("--measure-config", default=str(ROOT / "recipes" / "measure-synthetic.yaml"))
    ap.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="measure stage: cells in this process, or as Ray tasks (one per core)")
    ap.add_argument("--targets", default="all", help="comma-separated BLINK names, or all")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--eval-items", type=int, default=256)
    ap.add_argument("--kappa", type=float, default=1.0)
    ap.add_argument("--saturation", type=float, default=500.0)
    ap.add_argument("--runs", default="targets", help="folder under --work for the study's runs (one per target)")
    ap.add_argument("--baselines", default=",".join(STRATEGIES), help="strategies trained beside pgf")
    ap.add_argument("--baselines-from", default=None, metavar="RUNS",
                    help="report: take the strategies --runs did not train from this runs folder (same budget)")
    ap.add_argument("--label", default="", help="suffix of the result files, e.g. _s38")
    ap.add_argument("--matrix-for-plans", type=Path, default=None,
                    help="pairs: the matrix that picks each target's two best sources (default: the study's "
                         "measured matrix, or its copy in --results)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.baselines = [b.strip() for b in args.baselines.split(",") if b.strip()]
    targets = list(BLINK_TASKS) if args.targets == "all" else [t.strip() for t in args.targets.split(",")]
    start = time.perf_counter()
    if args.stage in ("measure", "all"):
        measure_stage(args)
    if args.stage in ("saturation", "all"):
        saturation_stage(args)
    if args.stage == "pairs":
        if args.matrix_for_plans is None:
            measured = args.work / "matrix"
            args.matrix_for_plans = measured if measured.is_dir() else args.results / "selection_synthetic_matrix.csv"
        pairs_stage(args, targets)
    if args.stage in ("select", "all"):
        select_stage(args, targets)
    if args.stage in ("report", "all"):
        report_stage(args, targets)
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
