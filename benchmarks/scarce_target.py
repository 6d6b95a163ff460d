"""The scarce-target study (issue 16): with n examples of the target, does adding planned source
data beat training on the n examples alone?

For each of the 13 synthetic targets and n in {50, 200}, budget 2,000 examples, on the measured
synthetic matrix (benchmarks/results/selection_synthetic_matrix.csv, measured on the val split;
the target's own row never used), arms (recipe ``scarce_target: n``):

  direct             the n target examples alone, cycled to 2,000 examples (the same steps)
  pgf+target         the n target examples + a (2,000 − n) mix planned by the default planner
  best_single+target the n examples + the best single other source
  random+target      the n examples + k random other sources (k = the pgf mix's)
  shuffled+target    the n examples + the default planner's mix on the matrix with its source
                     labels permuted (negative control: must do no better than random)

Every arm of a seed uses the same n target examples. 3 training seeds; scoring on the test split
(256 items, the selection study's), which nothing chooses from.

PRE-REGISTERED (fixed before any run; benchmarks/results/scarce_target_preregistration.md):
  primary endpoints, for n = 50 and n = 200 each:
    (a) pgf+target − direct: mean accuracy difference over the 13 targets; paired item × seed
        bootstrap (2,000 replicates) two-sided p, and a sign test over targets;
    (b) pgf+target vs best_single+target: non-inferiority with margin 0.02 accuracy
        (one-sided bootstrap p, H0: difference ≤ −0.02), TOST equivalence reported beside it.
  Holm correction over the four primary tests (a50, a200, b50, b200), bootstrap p for (a).
  Goals (the issue's): pgf+target beats direct on ≥ 10/13 targets at n = 50 and ≥ 8/13 at n = 200;
  beats random+target on ≥ 10/13 at n = 50; shuffled+target beats random+target on ≤ 8/13.

    .venv/bin/python benchmarks/scarce_target.py --stage run --targets Counting,Jigsaw --n 50
    .venv/bin/python benchmarks/scarce_target.py --stage report
    .venv/bin/python benchmarks/scarce_target.py --stage combine \
        --parts 50=benchmarks/results/scarce_target_base3797309a,200=benchmarks/results/scarce_target_base4d531110

Each ``--stage report`` record holds the runs of one tiny base (the base is bit-identical only on
one CPU type); ``combine`` takes each n from the record named for it (pre-registration amendment 1)
and writes the endpoint file, benchmarks/results/scarce_target.json, with the Holm correction over
the four primary tests and the goals; the record's other n go in as other-base runs, in no test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
ARMS = {"direct": "direct", "pgf+target": "pgf", "best_single+target": "best_single",
        "random+target": "random", "shuffled+target": "pgf"}
PRIMARY_MARGIN = 0.02


def study_recipe(target: str, n: int, matrix: Path, args, baselines: list[str]) -> dict:
    measure_cfg = yaml.safe_load(Path(args.measure_config).read_text())
    training = {k: v for k, v in measure_cfg["training"].items() if k not in ("examples_per_task", "max_steps")}
    training["epochs"] = 1
    return {"pgfselect_recipe": 1, "name": f"scarce-{target}-n{n}", "model": measure_cfg["model"],
            "target": f"synthetic:{target}", "budget": args.budget, "matrix": str(matrix.resolve()),
            "task_options": measure_cfg.get("task_options", {}), "mixture": "pgf", "baselines": baselines,
            "scarce_target": n, "seeds": args.seeds, "training": training,
            "evaluation": {"split": "test", "n_items": args.eval_items, "batch_size": 32, "seed": 1000}}


def shuffled_matrix(matrix_path: Path, target: str, out: Path) -> Path:
    """The matrix with the source labels of every source but the target permuted (seeded by the
    target's name): the planner then chooses on numbers unrelated to the sources' real transfer."""
    from pgfselect.matrix import load

    m = load(matrix_path)
    tid = f"synthetic:{target}"
    others = [i for i, s in enumerate(m.sources) if s != tid]
    rng = np.random.default_rng(sum(map(ord, target)))
    perm = list(range(len(m.sources)))
    shuffled = rng.permutation(others)
    for i, j in zip(others, shuffled):
        perm[i] = int(j)
    sh = dataclasses.replace(m, values=m.values[:, perm], status=m.status[:, perm],
                             correct_ft=None if m.correct_ft is None else m.correct_ft[:, perm])
    out.parent.mkdir(parents=True, exist_ok=True)
    sh.to_csv(out)
    return out


def run_stage(args, targets, sizes) -> None:
    """Train every arm not yet finished: in the work folder (resumed run by run) or in the committed
    results (a lost work folder re-runs only the seeds and strategies that were never recorded)."""
    from pgfselect.recipes.runner import RecipeRunner
    from pgfselect.recipes.schema import recipe_from_dict

    ensure_base(args, targets[0], sizes[0])
    record_folder(args)
    recorded = committed(args)
    for target in targets:
        for n in sizes:
            start = time.perf_counter()
            folder = args.work / f"n{n}" / target
            have = recorded.get(target, {}).get(str(n), {})
            doc = study_recipe(target, n, args.matrix, args, ["random", "direct", "zero_shot"])
            jobs = [("main", doc, {"pgf+target": "pgf", "random+target": "random", "direct": "direct",
                                   "zero_shot": "zero_shot"})]
            if not same_as_pgf(doc, args):
                # Where best_single plans the pgf mixture its arm is pgf's runs (pre-registered), even
                # when the record already lists it: a partial pgf arm is recorded as best_single too.
                jobs.append(("best_single", dict(study_recipe(target, n, args.matrix, args, []), mixture="best_single"),
                             {"best_single+target": "best_single"}))
            sh = shuffled_matrix(args.matrix, target, args.work / "shuffled" / f"{target}.csv")
            jobs.append(("shuffled", study_recipe(target, n, sh, args, []), {"shuffled+target": "pgf"}))
            for sub, recipe, arms in jobs:
                only, seeds = [], set()
                for arm, strategy in arms.items():
                    missing = [s for s in args.seeds if s not in have.get(arm, {})] if arm != "zero_shot" \
                        else ([] if arm in have else [None])
                    if missing:
                        only.append(strategy)
                        seeds.update(s for s in missing if s is not None)
                if not only:
                    continue
                recipe = dict(recipe, seeds=sorted(seeds) or args.seeds)
                RecipeRunner(recipe_from_dict(recipe, base_dir=ROOT, where=f"scarce {target} n={n} {sub}"), folder / sub,
                             cache_dir=args.work / "cache", only=only, progress=not args.quiet).run()
            print(f"{target} n={n}: {time.perf_counter() - start:.0f} s", flush=True)


def planned(doc: dict) -> set[str]:
    """The strategies a recipe has runs for (one the planner skipped, "no helpful source", has none)."""
    from pgfselect.recipes.resolve import resolve
    from pgfselect.recipes.schema import recipe_from_dict

    return {r.strategy for r in resolve(recipe_from_dict(doc, base_dir=ROOT), check_data=False).runs}


def ensure_base(args, target: str, n: int) -> None:
    """Build (or find) the cached tiny base every run trains from: the one the matrix was measured
    on (same model, warm-up and tasks), so its fingerprint can be checked before resuming."""
    from pgfselect.measure.bases import prepare_base
    from pgfselect.recipes.resolve import resolve
    from pgfselect.recipes.schema import recipe_from_dict

    loaded = recipe_from_dict(study_recipe(target, n, args.matrix, args, []), base_dir=ROOT)
    res = resolve(loaded, check_data=False)
    prepare_base(loaded.recipe.model, [loaded.recipe.task(t) for t in res.warmup_tasks], args.work / "cache",
                 log=lambda msg: print(msg, flush=True))


def base_fingerprint(args) -> str | None:
    """sha256 (16 hex digits) of the cached base's weights; None when none or several are cached."""
    from pgfselect.measure.bases import weights_fingerprint

    found = sorted((args.work / "cache" / "bases").glob("*/model.safetensors"))
    return weights_fingerprint(found[0].parent) if len(found) == 1 else None


def shown(path: Path) -> str:
    """A path as records name it: relative to the repository when inside it."""
    full = path.resolve()
    return str(full.relative_to(ROOT)) if full.is_relative_to(ROOT) else str(path)


def record_folder(args) -> Path:
    """Where this base's record lies: --results, or benchmarks/results/scarce_target_base<8 hex digits>
    (one folder per base, so that a machine of another CPU type starts its own record)."""
    if args.results is None:
        fp = base_fingerprint(args)
        args.results = ROOT / "benchmarks" / "results" / f"scarce_target_base{(fp or 'unknown')[:8]}"
    return args.results


def committed(args) -> dict:
    """The runs recorded in the committed results (scarce_target.json and its per-item file), in
    the shape :func:`collect` returns; item ids are positions in sorted-id order, as recorded.
    A record of another base than the one cached now stops the script (exit status 2, one line)."""
    try:
        summary = json.loads((args.results / "scarce_target.json").read_text())
        items = json.loads((args.results / "scarce_target_items.json").read_text())["items"]
    except (OSError, json.JSONDecodeError, KeyError):
        return {}
    fp = base_fingerprint(args)  # hashes the whole weights file: once
    if summary.get("base") is None or summary.get("base") != fp:
        # Going on would mix two bases in one study (or overwrite the record with the new base's
        # runs alone). The tiny base's warm-up is bit-identical only on the same CPU type.
        print(f"error: {args.results / 'scarce_target.json'} was trained from base {summary.get('base')}, "
              f"but this machine builds base {fp} (the tiny base is bit-identical only "
              f"on the same CPU type): not resumed; run where that base is built, or start a new study "
              f"with --results DIR", file=sys.stderr)
        raise SystemExit(2)
    data = {}
    for target, by_n in summary.get("targets", {}).items():
        for n, arms in by_n.items():
            out = {}
            for arm, row in arms.items():
                if arm == "zero_shot":
                    out[arm] = {"accuracy": row["mean"]}
                    continue
                correct = items.get(target, {}).get(n, {}).get(arm, {})
                seeds = sorted(int(s) for s in correct)
                if len(seeds) != len(row["per_seed"]):
                    continue  # a record that does not pair seeds with accuracies: re-run it
                out[arm] = {s: {"accuracy": acc, "items": _positional(correct[str(s)]), "allocation": row["allocation"]}
                            for s, acc in zip(seeds, row["per_seed"])}
            data.setdefault(target, {})[n] = out
    return data


def _positional(bits) -> dict:
    return {f"{k:05d}": int(b) for k, b in enumerate(bits)}


def same_as_pgf(doc: dict, args) -> bool:
    """Whether best_single plans the pgf mixture for this recipe (then its arm is pgf's runs)."""
    from pgfselect.recipes.resolve import resolve
    from pgfselect.recipes.schema import recipe_from_dict

    alloc = {}
    for mixture in ("pgf", "best_single"):
        res = resolve(recipe_from_dict(dict(doc, mixture=mixture, baselines=[]), base_dir=ROOT), check_data=False)
        alloc[mixture] = [r.allocation for r in res.runs]
    return alloc["pgf"] == alloc["best_single"]


def _runs(folder: Path, strategy: str) -> dict[int, dict]:
    """seed -> {"accuracy", "items": {id: correct}, "allocation"} of one strategy's finished runs."""
    from pgfselect.records import finished_runs

    return {int(run["metrics"]["seed"]): {"accuracy": run["metrics"]["accuracy"], "allocation": run["allocation"],
                                          "items": _positional(run["items"].values())}
            for run in finished_runs(folder, strategy) if run["metrics"]["seed"] is not None}


def collect(args, targets, sizes) -> dict:
    """Per target, n and arm: per-seed accuracy, per-item correctness, allocations; the committed
    results, with the work folder's finished runs over them."""
    recorded = committed(args)
    data = {}
    for target in targets:
        for n in sizes:
            folder = args.work / f"n{n}" / target
            arms = {arm: dict(runs) for arm, runs in recorded.get(target, {}).get(str(n), {}).items()}
            for arm, strategy in ARMS.items():
                sub = folder / {"shuffled+target": "shuffled", "best_single+target": "best_single"}.get(arm, "main")
                runs = _runs(sub, strategy)
                if runs:
                    arms.setdefault(arm, {}).update(runs)
            if "pgf+target" not in arms and "direct" in arms and (folder / "main" / "summary.json").is_file():
                # The planner said no source helps: its answer is the n target examples alone.
                if any("skipped" in w for w in json.loads((folder / "main" / "summary.json").read_text())["warnings"]):
                    arms["pgf+target"] = arms["direct"]
            if "pgf+target" in arms and same_as_pgf(study_recipe(target, n, args.matrix, args, []), args):
                # The same mixture: one arm (pre-registered). Overrides best_single runs of their own,
                # which a resume trained (before the rule above) for seeds a partial record lacked.
                arms["best_single+target"] = arms["pgf+target"]
            zs = sorted((folder / "main").glob("runs/zero_shot/base/metrics.json"))
            if zs:
                arms["zero_shot"] = {"accuracy": json.loads(zs[0].read_text())["accuracy"]}
            if arms:
                data.setdefault(target, {})[str(n)] = arms
    return data


def summarise(data: dict, seeds: list[int], sizes) -> dict:
    from pgfselect.compare import t_interval
    from pgfselect.stats import bootstrap_p_two_sided, holm, margin_tests, paired_bootstrap, sign_test

    out = {"budget": None, "seeds": seeds, "target_examples": list(sizes), "targets": {}}
    complete = {}
    for target, by_n in data.items():
        for n, arms in by_n.items():
            row = {}
            for arm, runs in arms.items():
                if arm == "zero_shot":
                    row[arm] = {"mean": runs["accuracy"]}
                    continue
                per_seed = [runs[s]["accuracy"] for s in seeds if s in runs]
                mean, lo, hi = t_interval(per_seed)
                row[arm] = {"mean": mean, "ci_low": lo, "ci_high": hi, "per_seed": per_seed,
                            "allocation": runs[min(runs)]["allocation"]}
            out["targets"].setdefault(target, {})[n] = row
            if all(a in arms and all(s in arms[a] for s in seeds) for a in ARMS):
                complete.setdefault(n, []).append(target)

    def items(target, n, arm):
        runs = data[target][n][arm]
        ids = sorted(runs[seeds[0]]["items"])
        return np.array([[runs[s]["items"][i] for i in ids] for s in seeds])

    tests, p_primary = {}, {}
    for n, targets in complete.items():
        t = {}
        mean = {arm: {tg: out["targets"][tg][n][arm]["mean"] for tg in targets} for arm in ARMS}

        def diff(a, b):
            return [mean[a][tg] - mean[b][tg] for tg in targets]

        for name, (a, b) in {"pgf_vs_direct": ("pgf+target", "direct"),
                             "pgf_vs_best_single": ("pgf+target", "best_single+target"),
                             "pgf_vs_random": ("pgf+target", "random+target"),
                             "shuffled_vs_random": ("shuffled+target", "random+target")}.items():
            boot = paired_bootstrap({tg: items(tg, n, a) for tg in targets}, {tg: items(tg, n, b) for tg in targets})
            d = diff(a, b)
            t[name] = {"mean_difference": float(np.mean(d)), "bootstrap_ci95": [float(np.quantile(boot, 0.025)),
                                                                                float(np.quantile(boot, 0.975))],
                       "p_bootstrap": bootstrap_p_two_sided(boot), "sign_test": sign_test(d),
                       "per_target": dict(zip(targets, d))}
            if name == "pgf_vs_best_single":
                t[name].update(margin_tests(boot, PRIMARY_MARGIN))
                p_primary[f"b_n{n}"] = t[name]["p_noninferiority"]
            if name == "pgf_vs_direct":
                p_primary[f"a_n{n}"] = t[name]["p_bootstrap"]
        t["same_mixture_as_best_single"] = sum(
            out["targets"][tg][n]["pgf+target"]["allocation"] == out["targets"][tg][n]["best_single+target"]["allocation"]
            for tg in targets)
        t["targets"] = len(targets)
        tests[n] = t
    adjusted = holm(p_primary) if p_primary else {}
    out["tests"] = tests
    out["primary_holm"] = {k: {"p": p_primary[k], "p_holm": adjusted[k]} for k in p_primary}
    out["complete_targets"] = complete
    return out


def markdown(out: dict) -> str:
    """Per-target tables (accuracy on the test split, mean [95% t-CI over seeds]) and the tests."""
    arms = ["zero_shot", *ARMS]
    lines = [f"Budget {out['budget']} examples, seeds {out['seeds']}, {out['evaluation']['n_items']} test items per "
             "target; accuracy mean [95% t-CI over seeds]. Targets whose arms are not all finished are listed "
             "but left out of the tests.", ""]
    for n in map(str, out["target_examples"]):
        lines += [f"### n = {n} target examples", "", "| target | " + " | ".join(arms) + " | pgf mix |",
                  "|" + "---|" * (len(arms) + 2)]
        for target, by_n in out["targets"].items():
            row = by_n.get(n)
            if not row:
                continue
            cells = []
            for arm in arms:
                r = row.get(arm)
                if not r:
                    cells.append("-")
                elif r.get("ci_low") is None:
                    cells.append(f"{r['mean']:.3f}")
                else:
                    cells.append(f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
            mix = row.get("pgf+target", {}).get("allocation", {})
            lines.append(f"| {target} | " + " | ".join(cells) + " | " +
                         ", ".join(f"{k.split(':', 1)[-1]} {v}" for k, v in mix.items()) + " |")
        t = out["tests"].get(n)
        if t:
            lines.append("")
            for name in ("pgf_vs_direct", "pgf_vs_random", "pgf_vs_best_single", "shuffled_vs_random"):
                x = t[name]
                s = x["sign_test"]
                lines.append(f"- {name}: mean {x['mean_difference']:+.3f} (bootstrap 95% CI "
                             f"[{x['bootstrap_ci95'][0]:+.3f}, {x['bootstrap_ci95'][1]:+.3f}], p {x['p_bootstrap']:.3g}); "
                             f"wins {s['wins']}, losses {s['losses']}, ties {s['ties']} of {t['targets']} (sign test p "
                             f"{s['p']:.3g})" + (f"; non-inferiority (margin {x['margin']}) p {x['p_noninferiority']:.3g}, "
                                                  f"TOST p {x['p_equivalence_tost']:.3g}" if "margin" in x else ""))
            lines.append(f"- pgf chose the same mixture as best_single on {t['same_mixture_as_best_single']} of "
                         f"{t['targets']} targets")
        lines.append("")
    if out["primary_holm"]:
        lines.append("Primary endpoints, Holm-adjusted: " + "; ".join(
            f"{k} p {v['p']:.3g} (Holm {v['p_holm']:.3g})" for k, v in sorted(out["primary_holm"].items())))
    return "\n".join(lines) + "\n"


def report_stage(args, targets, sizes) -> dict:
    ensure_base(args, targets[0], sizes[0])  # so that committed results of this base are kept
    record_folder(args)
    data = collect(args, targets, sizes)
    out = summarise(data, args.seeds, sizes)
    out["budget"] = args.budget
    out["matrix"] = shown(args.matrix)
    out["evaluation"] = {"split": "test", "n_items": args.eval_items}
    out["base"] = base_fingerprint(args)  # the tiny base every run trained from (sha256 of its weights)
    items = {tg: {n: {arm: {str(s): "".join(str(v) for _, v in sorted(runs[s]["items"].items())) for s in runs}
                      for arm, runs in arms.items() if arm != "zero_shot"} for n, arms in by_n.items()}
             for tg, by_n in data.items()}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scarce_target.json").write_text(json.dumps(out, indent=1))
    (args.results / "scarce_target.md").write_text(markdown(out))
    (args.results / "scarce_target_items.json").write_text(json.dumps(
        {"format": "per target, n, arm and seed: correctness of each test item (0/1) in sorted item-id order",
         "items": items}))
    print(json.dumps({"tests": {n: {k: (v if not isinstance(v, dict) else {kk: vv for kk, vv in v.items() if kk != "per_target"})
                                    for k, v in t.items()} for n, t in out["tests"].items()},
                      "primary_holm": out["primary_holm"]}, indent=1))
    return out


GOALS = {  # the issue's, pre-registered: (test, n, at least or at most, of the 13 targets)
    "pgf_beats_direct_n50": ("pgf_vs_direct", "50", ">=", 10),
    "pgf_beats_direct_n200": ("pgf_vs_direct", "200", ">=", 8),
    "pgf_beats_random_n50": ("pgf_vs_random", "50", ">=", 10),
    "control_shuffled_beats_random_n50": ("shuffled_vs_random", "50", "<=", 8),
    "control_shuffled_beats_random_n200": ("shuffled_vs_random", "200", "<=", 8),
}


def combine(parts: dict[str, dict], names: dict[str, str], targets: list[str]) -> dict:
    """The endpoint record from one report record per n (``parts``: n -> that record's JSON;
    ``names``: n -> where it lies). Each n's arms and tests are taken as they are; Holm runs over
    the primary tests of all of them; the goals are counted over complete targets. ``final`` says
    whether every n has all ``targets`` complete (only then are the goals and Holm p the endpoints)."""
    from pgfselect.stats import holm

    first = next(iter(parts.values()))
    out = {"budget": first["budget"], "seeds": first["seeds"], "target_examples": sorted(map(int, parts)),
           "evaluation": first["evaluation"], "parts": {}, "targets": {}, "tests": {}, "complete_targets": {},
           "other_base_runs": {}}
    for n, rec in sorted(parts.items(), key=lambda kv: int(kv[0])):
        for key in ("budget", "seeds", "evaluation"):
            if rec[key] != first[key]:
                raise ValueError(f"{names[n]}: {key} {rec[key]!r} differs from {first[key]!r}: not one study")
        out["parts"][n] = {"results": names[n], "base": rec["base"], "matrix": rec["matrix"]}
        for target, by_n in rec["targets"].items():
            if n in by_n:
                out["targets"].setdefault(target, {})[n] = by_n[n]
        out["complete_targets"][n] = rec["complete_targets"].get(n, [])
        if n in rec["tests"]:
            out["tests"][n] = rec["tests"][n]
        for other in sorted(set(map(str, rec["target_examples"])) - {n}):
            if other in rec["tests"]:  # e.g. the first base's partial n = 200: reported, never tested
                out["other_base_runs"][other] = {
                    "results": names[n], "base": rec["base"], "complete_targets": rec["complete_targets"].get(other, []),
                    "tests": rec["tests"][other],
                    "targets": {tg: by_n[other] for tg, by_n in rec["targets"].items() if other in by_n}}
    # each record's raw primary p (summarise names them a_n<n>, b_n<n>), of the n taken from it
    p = {k: v["p"] for n, rec in parts.items() for k, v in rec["primary_holm"].items() if k.endswith(f"_n{n}")}
    adjusted = holm(p) if p else {}
    out["primary_holm"] = {k: {"p": p[k], "p_holm": adjusted[k]} for k in sorted(p)}
    out["final"] = all(sorted(out["complete_targets"].get(str(n), [])) == sorted(targets)
                       for n in out["target_examples"])
    out["goals"] = {}
    for name, (test, n, op, bound) in GOALS.items():
        t = out["tests"].get(n)
        if t is None:
            continue
        wins = t[test]["sign_test"]["wins"]
        out["goals"][name] = {"wins": wins, "of": t["targets"], "goal": f"{op} {bound}",
                              "met": wins >= bound if op == ">=" else wins <= bound}
    return out


def combine_markdown(out: dict) -> str:
    lines = ["Each n comes from one tiny base (pre-registration amendment 1): "
             + "; ".join(f"n = {n}: `{p['results']}`, base {p['base']}, matrix `{p['matrix']}`"
                         for n, p in out["parts"].items()) + ".",
             "" if out["final"] else "**Not final: some targets are not complete; the goals and Holm p below are "
                                     "interim.**", ""]
    lines.append(markdown(out).rstrip("\n"))
    lines += ["", "Goals (pre-registered; wins over complete targets):"]
    lines += [f"- {name}: {g['wins']} of {g['of']} (goal {g['goal']}): {'met' if g['met'] else 'missed'}"
              for name, g in out["goals"].items()]
    for n, o in out["other_base_runs"].items():
        t = o["tests"]
        lines += ["", f"Other-base runs, in no test: n = {n} on base {o['base']} (`{o['results']}`), "
                      f"{len(o['complete_targets'])} complete targets: pgf+target − direct "
                      f"{t['pgf_vs_direct']['mean_difference']:+.3f}, wins {t['pgf_vs_direct']['sign_test']['wins']} "
                      f"of {t['targets']}."]
    return "\n".join(lines) + "\n"


def combine_stage(args, targets) -> dict:
    parts, names = {}, {}
    for spec in filter(None, (args.parts or "").split(",")):
        n, sep, folder = spec.partition("=")
        path = Path(folder)
        if not sep or not n.isdigit():
            print(f"error: --parts entry {spec!r} is not N=DIR (e.g. 50=benchmarks/results/scarce_target_base3797309a)",
                  file=sys.stderr)
            raise SystemExit(2)
        try:
            parts[n] = json.loads((path / "scarce_target.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"error: --parts {spec!r}: cannot read {path / 'scarce_target.json'} "
                  f"({getattr(e, 'strerror', None) or e})", file=sys.stderr)
            raise SystemExit(2)
        names[n] = shown(path)
    if not parts:
        print("error: --stage combine needs --parts N=DIR,... (one report record per n)", file=sys.stderr)
        raise SystemExit(2)
    out = combine(parts, names, targets)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "scarce_target.json").write_text(json.dumps(out, indent=1))
    (args.results / "scarce_target.md").write_text(combine_markdown(out))
    print(json.dumps({"final": out["final"], "primary_holm": out["primary_holm"], "goals": out["goals"]}, indent=1))
    return out


def main():
    from pgfselect.names import BLINK_TASKS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["run", "report", "all", "combine"], default="all")
    ap.add_argument("--parts", help="combine: N=DIR,... the report record each n is taken from")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "scarce")
    ap.add_argument("--results", type=Path, help="run/report: the base's record folder (default "
                    "benchmarks/results/scarce_target_base<fingerprint>); combine: where the endpoint file goes "
                    "(default benchmarks/results)")
    ap.add_argument("--matrix", type=Path, default=ROOT / "benchmarks" / "results" / "selection_synthetic_matrix.csv")
    ap.add_argument("--measure-config", default=str(ROOT / "recipes" / "measure-synthetic.yaml"))
    ap.add_argument("--targets", default="all")
    ap.add_argument("--n", default="50,200", help="target examples, comma-separated")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--eval-items", type=int, default=256)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    args.seeds = [int(s) for s in args.seeds.split(",")]
    sizes = [int(x) for x in args.n.split(",")]
    targets = list(BLINK_TASKS) if args.targets == "all" else [t.strip() for t in args.targets.split(",")]
    start = time.perf_counter()
    if args.stage in ("run", "all"):
        run_stage(args, targets, sizes)
    if args.stage in ("report", "all"):
        report_stage(args, targets, sizes)
    if args.stage == "combine":
        args.results = args.results or ROOT / "benchmarks" / "results"
        combine_stage(args, targets)
    print(f"wall time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
