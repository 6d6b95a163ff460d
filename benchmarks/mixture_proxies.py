"""Mixture proxies against trained mixes (issue 23, items 3 and 5).

Do the proxies of pgfselect.proxy (``ensemble``: Mixture of Data Experts, arXiv 2502.15950;
``merge``: DeMix, arXiv 2602.00747) predict what training on a mix does better than the
planner's blend (the share-weighted PGF of the sources' own cells)? And does a planner driven by
the better proxy beat the best single source when its mixes are trained?

Data, all on the 13 synthetic targets (budget 2,000 examples, one epoch, the tiny model and
training of recipes/measure-synthetic.yaml):

* the matrix re-measured with recipes/measure-synthetic.yaml (val split, 2 seeds) into the work
  folder, so that predictions.csv has option probabilities and every cell keeps its (full
  finetune) model; it must equal the committed benchmarks/results/selection_synthetic_matrix.csv
  (counts and PGF) and the stage says whether it does;
* the **validation mixes**, per target: the two-source pair of
  benchmarks/results/selection_synthetic_pairs.json (the pairs study's rule: top_k, k = 2, on the
  committed matrix) and ``--n-mixes`` (4) sparse mixes: 2 to 4 of the target's 12 other sources
  (the number and the sources uniform), Dirichlet(``--alpha`` 1) shares over them, with the seed sha256("pgfselect/mixture_proxies/" + target)[:8]
  (pre-registered by that seed; the draws are recorded), rounded to whole examples (largest
  remainder). Trained on the pairs study's val protocol: val split, its 256 items (evaluation
  seed 0, the matrix's items), training seeds 0 and 1;
* the **study mixes**: the mixes the selection study trained and scored on the test split
  (pgf with saturation 500 and 38, best_single, uniform; results/selection_synthetic{,_s38}.json,
  seed means over 3 seeds), their accuracy turned into PGF against the study's test zero-shot.

For every mix: the blend, the ensemble proxy and the merge proxy (the cells' whole models
averaged with the shares), each the seed mean over the matrix's seeds; against the trained mix's
PGF (seed mean, against the matrix's zero-shot on the same val items; a study mix's test accuracy
against the study's test zero-shot): MAE, Pearson correlation over all mixes, and the
within-target Spearman rank correlation (per target over its mixes, then the mean over targets;
a target whose trained mixes all score the same is left out for every predictor, a prediction
constant within a target counts 0 there). Beside them the MDE-style regression: the proxies and
the blend as features of a ridge regression on the shares (scikit-learn RidgeCV on standardised
features), cross-validated leaving whole targets out (on the study mixes: fitted on the
validation mixes of the other targets); and the same without the shares.

The studies' planner options are the ones they ran with: κ 1 and the then-default saturating
objective (s = 38 for the pairs, 500 for the selection study), whose shrunk weights rank top_k
and best_single; with them the pairs rule picks the recorded pair on all 13 targets and
best_single the recorded source.

The **planned arm**: per target, the planner on the better proxy (``plan --mixture-model
proxy:KIND``, κ = ``--plan-kappa`` 0) on the re-measured folder, its mix trained on the selection
study's test protocol (test split, 256 items, evaluation seed 1000, training seeds 0, 1, 2) beside
best_single (trained again here for the per-item pairing; the selection study's means are shown
for reproduction). The mean-variance default plans best_single's mixture on every target (checked
here); the old objective (saturating, s = 500) is the selection study's pgf arm (seed means only:
sign test, no bootstrap). Paired item × seed bootstrap (pgfselect.stats) and a sign test over
targets.

The better proxy (pre-registered): the higher mean within-target Spearman on the validation
mixes; ties by the lower MAE.

GOALS (the issue's):
  1. the better proxy's validation MAE ≤ 0.8 × the blend's, and its within-target Spearman >
     the blend's;
  2. the proxy-driven plan's mean test accuracy over the 13 targets ≥ best_single's + 0.005, and
     it wins on at least as many targets as it loses against best_single.

Stages (``--stage``, each resumable):
  measure  re-measure the matrix into WORK/matrix; compare it with the committed one
  mixes    train the validation mixes (WORK/mixes/TARGET/MIX)
  score    blend, ensemble and merge of every validation and study mix (WORK/scores/TARGET.json)
  plan     the proxy-driven planned arm and best_single (WORK/planned/TARGET)
  report   results/mixture_proxies.json and .md
  all      all of them in order

Resuming: every stage ends by writing results/mixture_proxies_items.json, the committed record of
what is finished (per run: accuracy, counts and per-item correctness; the scores; the plans), the
committed record with the work folder's newer results over it. A stage skips what that record
already holds, so a lost work folder re-runs only what was never recorded. The record names the
weight fingerprint of the tiny base it was trained from; a record of another base is set aside
(renamed ``*_superseded_BASE.json``), never mixed in. Within a work folder the recipe runner
reuses every finished run.

    .venv/bin/python benchmarks/mixture_proxies.py --stage measure --executor ray
    .venv/bin/python benchmarks/mixture_proxies.py --stage mixes --targets Counting,Jigsaw
    .venv/bin/python benchmarks/mixture_proxies.py --stage score
    .venv/bin/python benchmarks/mixture_proxies.py --stage plan
    .venv/bin/python benchmarks/mixture_proxies.py --stage report
    .venv/bin/python benchmarks/mixture_proxies.py --smoke --work /tmp/mp-smoke   # end to end, tiny, ~2 min

``--smoke`` runs the whole pipeline on tiny:t64 with 3 tasks, a few steps and 24 items (outputs
in WORK/results unless --results names another folder; never benchmarks/results): a check that
the script works, not a result. (``--stage all`` measures only when the committed record has no
measure check; any later stage that needs the folder and finds none measures it then.)

Cost of the real run (one core per process; a 2,000-example run about 60 s, a measure cell about
76 s): measure 1 base + 26 cells (about 35 core-minutes; ``--executor ray`` spreads them);
validation mixes 13 × 5 × 2 = 130 runs (about 2.2 core-hours); planned arm 13 × 3 proxy-plan runs
plus up to 13 × 3 best_single runs (a target whose proxy plan is best_single's mixture trains it
once): 39 to 78 runs (0.7 to 1.3 core-hours); score: 13 × 9 mixes, the ensemble instant, the
merge one scoring pass per seed per mix (an estimated 10 s a mix: about 20 core-minutes); the
plan search on the merge proxy (if it is the better one) calls the merge proxy for every
candidate (singles, the even mix, 16 Dirichlet mixes, then pairwise refinement): an estimated
10 to 30 core-minutes a target. Targets run in parallel as separate processes (``--targets``)
sharing one ``--work``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "benchmarks" / "results"
PREDICTORS = ("blend", "ensemble", "merge")
PROXIES = ("ensemble", "merge")
RECORDS = "mixture_proxies_items.json"
RECORDS_FORMAT = "pgfselect-mixture-proxies-records"
SEED_TAG = "pgfselect/mixture_proxies/"
MAE_RATIO_GOAL = 0.8
PLAN_MARGIN_GOAL = 0.005
PREFIX = "synthetic:"

# The smoke pipeline: a tiny grid of 3 tasks (2 other sources per target), a few full-finetune steps.
SMOKE_TASKS = ["Counting", "Relative_Depth", "Spatial_Relation"]
SMOKE_MEASURE = {
    "name": "mixture-proxies-smoke",
    "model": {"path": "tiny:t64", "cpu_threads": 1, "initializer_range": 0.1,
              "warmup": {"steps": 150, "learning_rate": 0.003, "batch_size": 8, "examples_per_task": 32}},
    # full cues and a longer warm-up than the tests': the cells then answer item by item, not one letter
    "task_options": {"synthetic": {"difficulty": 0.0, "skill_cues": 1.0}},
    "tasks": [PREFIX + t for t in SMOKE_TASKS],
    "seeds": [0, 1],
    "training": {"method": "full", "train_vision": True, "learning_rate": 0.003, "lr_scheduler": "cosine",
                 "warmup_ratio": 0.05, "max_steps": 20, "batch_size": 4, "examples_per_task": 48},
    "evaluation": {"split": "val", "n_items": 24, "batch_size": 24},
}
SMOKE = {"budget": 64, "eval_items": 24, "seeds": [0], "plan_seeds": [0, 1], "n_mixes": 2, "plan_candidates": 4}


# ------------------------------------------------------------------ settings and paths
def measure_doc(args) -> dict:
    return copy.deepcopy(SMOKE_MEASURE) if args.smoke else yaml.safe_load(Path(args.measure_config).read_text())


def measure_cfg(args):
    from pgfselect.measure.config import validate_config

    return validate_config(measure_doc(args), where=str(args.measure_config if not args.smoke else "smoke measure"))


def folder(args) -> Path:
    """The re-measured matrix (a measure folder: the proxies read it)."""
    return args.work / "matrix"


def recipe_matrix(args) -> Path:
    """The matrix the trained mixes are planned and scored against: the committed one (the pairs
    and selection studies planned on it), or the measured folder where none is given (smoke)."""
    return Path(args.reference_matrix) if args.reference_matrix else folder(args)


def tid(target: str) -> str:
    return PREFIX + target


def bare(name: str) -> str:
    return name.split(":", 1)[-1]


def _shown(path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def check_protocol(cfg, args) -> None:
    """The trained mixes are scored on the matrix's own val items (the pairs study's protocol)."""
    from pgfselect.errors import PGFSelectError

    ev = cfg.evaluation
    if ev.split != "val" or ev.n_items != args.eval_items or ev.seed != 0:
        raise PGFSelectError(f"the measure config scores {ev.n_items} {ev.split} items (seed {ev.seed}); the validation "
                             f"mixes are scored on {args.eval_items} val items with seed 0: they must be the same items")


def ensure_base(args) -> str:
    """Build (or find) the cached tiny base the matrix and every run train from."""
    from pgfselect.measure.bases import prepare_base

    cfg = measure_cfg(args)
    return prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], args.work / "cache",
                        log=lambda msg: print(msg, flush=True))


def base_fingerprint(args) -> str | None:
    """sha256 (16 hex digits) of the cached base's weights; None when it is not built."""
    from pgfselect.measure.bases import base_key, weights_fingerprint

    cfg = measure_cfg(args)
    return weights_fingerprint(args.work / "cache" / "bases" / base_key(cfg.model, [cfg.task(t) for t in cfg.tasks]))


# ------------------------------------------------------------------ the records (resuming)
def empty_records() -> dict:
    return {"format": RECORDS_FORMAT, "version": 1, "base": None, "measure": None, "validation": {}, "planned": {},
            "scores": {}}


def committed(args) -> dict:
    """The committed record (results/mixture_proxies_items.json), when it was trained from the base
    cached now; otherwise an empty one (a record of another base is never resumed from)."""
    path = args.results / RECORDS
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return empty_records()
    if doc.get("format") != RECORDS_FORMAT:
        return empty_records()
    if doc.get("base") is not None and base_fingerprint(args) is None:
        ensure_base(args)  # a lost work folder: rebuild the base to check the record against it
    fp = base_fingerprint(args)
    if doc.get("base") is not None and doc.get("base") != fp:
        print(f"{path} was trained from base {doc.get('base')}, not the cached {fp}: not resumed from", flush=True)
        return empty_records()
    return {**empty_records(), **doc}


def _run_records(run_folder: Path, strategy: str) -> dict:
    """seed ("0", or "base" for zero_shot) -> {accuracy, correct, n, allocation, items} of a recipe
    folder's finished runs of one strategy (the current recipe's only)."""
    from pgfselect.records import finished_runs, recipe_hash_of

    out = {}
    for run in finished_runs(run_folder, strategy, recipe_hash_of(run_folder)):
        metrics = run["metrics"]
        key = "base" if metrics["seed"] is None else str(metrics["seed"])
        out[key] = {"accuracy": metrics["accuracy"], "correct": metrics["correct"], "n": metrics["n"],
                    "allocation": run["allocation"], "items": "".join(str(v) for v in run["items"].values())}
    return out


def work_records(args) -> dict:
    """What the work folder holds (every target, whichever process trained it)."""
    rec = empty_records()
    check = args.work / "measure_check.json"
    if check.is_file():
        rec["measure"] = json.loads(check.read_text())
    for mix_folder in sorted(f for f in args.work.glob("mixes/*/*") if f.is_dir()):
        target, name = mix_folder.parent.name, mix_folder.name
        meta = mix_folder.parent / f"{name}.mix.json"
        if not meta.is_file():
            continue
        info = json.loads(meta.read_text())
        seeds = _run_records(mix_folder, info["strategy"])
        if seeds:
            rec["validation"].setdefault(target, {})[name] = {**info, "seeds": seeds}
    for plan_file in sorted(args.work.glob("plans/planned/*.yaml")):
        target = plan_file.stem
        plan = yaml.safe_load(plan_file.read_text())
        entry = {"plan": _plan_summary(plan), "arms": {}}
        runs = args.work / "planned" / target
        if runs.is_dir():
            for arm, strategy in (("proxy_plan", "pgf"), ("best_single", "best_single"), ("zero_shot", "zero_shot")):
                got = _run_records(runs, strategy)
                if got:
                    entry["arms"][arm] = got
        rec["planned"][target] = entry
    for path in sorted(args.work.glob("scores/*.json")):
        rec["scores"][path.stem] = json.loads(path.read_text())
    return rec


def _plan_summary(plan: dict) -> dict:
    return {"allocation": plan["allocation"], "status": plan.get("status"), "objective": plan.get("objective"),
            "solver": plan.get("solver"), "expected": (plan.get("expected") or {}).get("pgf"),
            "expected_per_seed": (plan.get("expected") or {}).get("per_seed"),
            "kappa": (plan.get("options") or {}).get("kappa"),
            "recommendation": plan.get("recommendation")}


def records(args) -> dict:
    """The committed record with the work folder's results over it."""
    rec, new = committed(args), work_records(args)
    if new["measure"] is not None:
        rec["measure"] = new["measure"]
    for target, mixes in new["validation"].items():
        for name, entry in mixes.items():
            old = rec["validation"].setdefault(target, {}).get(name)
            seeds = {**(old or {}).get("seeds", {}), **entry["seeds"]} if old and old["allocation"] == entry["allocation"] \
                else entry["seeds"]
            rec["validation"][target][name] = {**entry, "seeds": seeds}
    for target, entry in new["planned"].items():
        old = rec["planned"].get(target)
        if old and old["plan"]["allocation"] == entry["plan"]["allocation"]:
            arms = {arm: {**old["arms"].get(arm, {}), **runs} for arm, runs in entry["arms"].items()}
            entry = {**entry, "arms": {**old["arms"], **arms}}
        rec["planned"][target] = entry
    for target, scores in new["scores"].items():
        rec["scores"].setdefault(target, {}).update(scores)
    return rec


def save_records(args) -> dict:
    from pgfselect.fileio import atomic_write

    rec = records(args)
    rec["base"] = base_fingerprint(args)
    path = args.results / RECORDS
    if path.is_file():  # a record of another base is set aside, never overwritten
        try:
            old = json.loads(path.read_text()).get("base")
        except (OSError, json.JSONDecodeError, AttributeError):
            old = None
        if old is not None and old != rec["base"]:
            shutil.move(path, path.with_name(f"{path.stem}_superseded_{old}.json"))
    args.results.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(rec, indent=None, separators=(",", ":")))
    return rec


# ------------------------------------------------------------------ measure
def compare_matrices(new, ref) -> dict:
    """Cell by cell (seed, source, target): counts equal, PGF within rounding (1e-6)."""
    def cells(m):
        out = {}
        for s, seed in enumerate(m.seeds):
            for i, src in enumerate(m.sources):
                for j, tgt in enumerate(m.targets):
                    out[seed, src, tgt] = (m.values[s, i, j], None if m.correct_ft is None else m.correct_ft[s, i, j],
                                           None if m.correct_base is None else m.correct_base[s, j],
                                           None if m.n_eval is None else m.n_eval[s, j])
        return out

    a, b = cells(new), cells(ref)
    shared = sorted(set(a) & set(b))
    diffs, counts_differ = [], []
    for key in shared:
        (va, *ca), (vb, *cb) = a[key], b[key]
        d = 0.0 if (np.isnan(va) and np.isnan(vb)) else abs(float(va) - float(vb))
        diffs.append(d)
        if any(x is not None and y is not None and float(x) != float(y) for x, y in zip(ca, cb)):
            counts_differ.append(" / ".join(map(bare, key[1:])) + f" ({key[0]})")
    worst = float(np.nanmax(diffs)) if diffs else None
    same_cells = set(a) == set(b)
    return {"cells": len(shared), "same_cells": same_cells, "counts_differ": len(counts_differ),
            "counts_differ_examples": counts_differ[:10], "max_abs_pgf_difference": worst,
            "equal": same_cells and not counts_differ and worst is not None and worst <= 1e-6}


def measure_stage(args) -> dict:
    from pgfselect.fileio import atomic_write
    from pgfselect.matrix import load
    from pgfselect.measure.engine import measure
    from pgfselect.measure.executors import make_executor

    cfg = measure_cfg(args)
    check_protocol(cfg, args)
    summary = measure(cfg, folder(args), executor=make_executor(args.executor), cache_dir=args.work / "cache",
                      show_progress=not args.quiet)
    check = {"config": "smoke" if args.smoke else _shown(args.measure_config), "config_hash": summary.config_hash,
             "cells_computed": summary.computed, "cells_reused": summary.reused, "failed": summary.failed,
             "seconds": summary.seconds}
    if args.reference_matrix:
        check["reference"] = _shown(args.reference_matrix)
        check.update(compare_matrices(load(folder(args)), load(args.reference_matrix)))
        verdict = ("EQUALS the committed matrix (every count, PGF within 1e-6)" if check["equal"] else
                   f"DIFFERS from the committed matrix: {check['counts_differ']} cells with other counts, "
                   f"max |Δ PGF| {check['max_abs_pgf_difference']}")
        print(f"re-measured matrix ({check['cells']} cells) {verdict}", flush=True)
    atomic_write(args.work / "measure_check.json", json.dumps(check, indent=1))
    print(f"matrix: {summary.matrix} ({summary.computed} cells computed, {summary.reused} reused, "
          f"{len(summary.failed)} failed, {summary.seconds:.0f} s)", flush=True)
    save_records(args)
    return check


def need_folder(args) -> None:
    """The measured folder, measured (again) when a stage needs it and it is not there."""
    if not (folder(args) / "matrix.csv").is_file():
        print(f"{folder(args)} is not measured: measuring it (the cells of recipes/measure-synthetic.yaml)", flush=True)
        measure_stage(args)


# ------------------------------------------------------------------ the validation mixes
def dirichlet_seed(target: str) -> int:
    """The pre-registered seed of a target's Dirichlet draws."""
    return int(hashlib.sha256((SEED_TAG + target).encode()).hexdigest()[:8], 16)


def ordered(alloc: dict, sources: list[str]) -> dict:
    """Largest first, ties in the matrix's source order (as the planner writes allocations)."""
    return dict(sorted(alloc.items(), key=lambda kv: (-kv[1], sources.index(kv[0]))))


def dirichlet_mixes(sources: list[str], budget: int, n: int, alpha: float, seed: int, avoid=(),
                    max_sources: int = 4) -> list[dict]:
    """``n`` distinct mixes of 2 to ``max_sources`` sources: a uniform number k of them, chosen
    uniformly, with Dirichlet(alpha) shares, rounded to whole examples summing to ``budget``
    (largest remainder, the planner's rounding). Sparse on purpose: plans mix a few sources, and
    over 12 sources a plain Dirichlet gives near-even mixes of all of them, too alike for a
    within-target ranking. Draws that round to one source or repeat a mix (or one in ``avoid``)
    are skipped and counted."""
    from pgfselect.errors import PGFSelectError
    from pgfselect.plan.optimizer import round_allocation

    rng = np.random.default_rng(seed)
    out, draws = [], 0
    while len(out) < n:
        draws += 1
        if draws > 1000 * max(n, 1):
            raise PGFSelectError(f"no {n} distinct Dirichlet mixes of {len(sources)} sources found in {draws} draws")
        k = int(rng.integers(2, max(2, min(max_sources, len(sources))) + 1))
        w = np.zeros(len(sources))
        w[rng.choice(len(sources), size=min(k, len(sources)), replace=False)] = rng.dirichlet(
            np.full(min(k, len(sources)), float(alpha)))
        x = round_allocation(w * budget, budget, np.full(len(sources), np.inf), priority=w)
        alloc = ordered({s: int(v) for s, v in zip(sources, x) if v > 0}, sources)
        if len(alloc) < 2 or alloc in [m["allocation"] for m in out] or alloc in list(avoid):
            continue
        out.append({"allocation": alloc, "draw": draws, "shares": [round(float(v), 6) for v in w]})
    return out


def pairs_doc(args) -> dict:
    if not args.pairs:
        return {}
    try:
        return json.loads(Path(args.pairs).read_text()).get("targets", {})
    except (OSError, json.JSONDecodeError):
        return {}


# The planner options the pairs study (val) and the selection study (test) ran with: κ 1 and the
# objective that was the default then (saturating; its shrunk weights rank top_k and best_single).
STUDY_PLANNER = {"val": {"objective": "saturating", "saturation": 38.0},
                 "test": {"objective": "saturating", "saturation": 500.0}}


def pair_mix(args, target: str, matrix) -> dict:
    """The pairs study's pair: its rule (top_k, k = 2, with the pairs study's planner options) on
    the committed matrix, checked against the sources it recorded (those are used when the rule
    disagrees)."""
    from pgfselect.plan import MixturePlanner
    from pgfselect.plan.optimizer import round_allocation

    plan = MixturePlanner(tid(target), args.budget, strategy="top_k", k=2, kappa=args.kappa,
                          **STUDY_PLANNER["val"]).fit(matrix).to_dict()
    recorded = pairs_doc(args).get(target, {}).get("sources")
    chosen = sorted(bare(s) for s in plan["allocation"])
    out = {"strategy": "top_k", "origin": "the pairs study's pair (top_k, k=2)", "plan": plan,
           "matches_pairs_study": None if recorded is None else chosen == sorted(recorded)}
    if recorded is not None and chosen != sorted(recorded):
        print(f"{target}: the pairs rule now picks {chosen}, the pairs study recorded {recorded}: using the recorded pair",
              flush=True)
        sources = list(matrix.sources)
        names = [tid(s) for s in recorded]
        x = round_allocation(np.full(2, args.budget / 2), args.budget, np.full(2, np.inf))
        plan = dict(plan, allocation=ordered(dict(zip(names, map(int, x))), sources))
        out["plan"] = plan
    out["allocation"] = dict(out["plan"]["allocation"])
    return out


def validation_mixes(args, target: str, matrix) -> dict:
    """The pre-registered validation mixes of ``target``: the pair, then the Dirichlet draws."""
    sources = [s for s in matrix.sources if s != tid(target)]
    pair = pair_mix(args, target, matrix)
    seed = dirichlet_seed(target)
    mixes = {"pair": pair}
    for k, m in enumerate(dirichlet_mixes(sources, args.budget, args.n_mixes, args.alpha, seed,
                                          avoid=[pair["allocation"]]), 1):
        mixes[f"dirichlet_{k}"] = {"strategy": "pgf", "allocation": m["allocation"], "draw": m["draw"],
                                   "shares": m["shares"],
                                   "origin": f"Dirichlet({args.alpha:g}) over 2-4 of {len(sources)} sources, seed {seed}, draw {m['draw']}"}
    return {"dirichlet_seed": seed, "alpha": args.alpha, "sources": sources, "mixes": mixes}


def mix_plan(target: str, name: str, mix: dict, matrix, budget: int) -> dict:
    """The plan file a validation mix is trained from: the pairs rule's own plan for the pair; a
    fixed allocation (no planner: a Dirichlet draw) for the others."""
    if "plan" in mix:
        return mix["plan"]
    return {"pgfselect_plan": 1, "target": tid(target), "targets": {tid(target): 1.0}, "budget": budget,
            "matrix": matrix.name or "", "matrix_digest": matrix.digest(), "strategy": mix["strategy"],
            "allocation": mix["allocation"], "excluded": {}, "solver": "none", "status": "fixed",
            "objective": f"validation mix {name} (not a plan): {mix['origin']}", "recommendation": None,
            "expected": None, "notes": ["a validation mix of benchmarks/mixture_proxies.py, drawn, not planned"]}


def study_recipe(args, target: str, matrix_path: Path, split: str, seeds: list[int]) -> dict:
    """The recipe of the pairs study (val) or of the selection study (test), mixture to be set."""
    doc = measure_doc(args)
    training = {k: v for k, v in doc["training"].items() if k not in ("examples_per_task", "max_steps")}
    training["epochs"] = 1
    val = split == "val"
    return {"pgfselect_recipe": 1, "name": f"mixture-proxies-{target}", "model": doc["model"], "target": tid(target),
            "budget": args.budget, "matrix": str(Path(matrix_path).resolve()), "task_options": doc.get("task_options", {}),
            "baselines": [], "planner": {"kappa": args.kappa, **STUDY_PLANNER[split]}, "seeds": seeds,
            "training": training,
            "evaluation": {"split": split, "n_items": args.eval_items, "batch_size": 32, "seed": 0 if val else 1000}}


def mixes_stage(args, targets: list[str]) -> None:
    """Train every validation mix and seed not yet recorded."""
    from pgfselect.errors import PGFSelectError
    from pgfselect.fileio import atomic_write
    from pgfselect.matrix import load
    from pgfselect.plan import write_plan
    from pgfselect.recipes.runner import RecipeRunner
    from pgfselect.recipes.schema import recipe_from_dict

    ensure_base(args)
    recorded = committed(args)
    matrix = load(recipe_matrix(args))
    for target in targets:
        start = time.perf_counter()
        reg = validation_mixes(args, target, matrix)
        for name, mix in reg["mixes"].items():
            have = recorded["validation"].get(target, {}).get(name)
            if have and have["allocation"] != mix["allocation"]:
                raise PGFSelectError(f"{target} {name}: the committed record trained {have['allocation']}, the "
                                     f"pre-registered mix is now {mix['allocation']}; they must not be mixed")
            missing = [s for s in args.seeds if str(s) not in (have or {}).get("seeds", {})]
            if not missing:
                continue
            plan_path = args.work / "plans" / "mixes" / target / f"{name}.yaml"
            write_plan(mix_plan(target, name, mix, matrix, args.budget), plan_path)
            info = {"strategy": mix["strategy"], "allocation": mix["allocation"], "origin": mix["origin"]}
            out = args.work / "mixes" / target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(out.parent / f"{name}.mix.json", json.dumps(info, indent=1))
            doc = dict(study_recipe(args, target, recipe_matrix(args), "val", missing), name=f"mixval-{target}-{name}",
                       mixture={"plan": str(plan_path.resolve())})
            RecipeRunner(recipe_from_dict(doc, base_dir=ROOT, where=f"validation mix {target} {name}"), out,
                         cache_dir=args.work / "cache", progress=not args.quiet).run()
        save_records(args)
        print(f"{target}: validation mixes done in {time.perf_counter() - start:.0f} s", flush=True)


# ------------------------------------------------------------------ the study mixes
def study_mixes(args, target: str, matrix) -> dict:
    """The selection study's trained mixes of ``target`` at this budget: each study file's pgf plan
    and, from the first, best_single and uniform (their allocations re-derived by the planner's
    rules, with the study's κ). Accuracy is the seed mean on the test split."""
    from pgfselect.plan import MixturePlanner

    out, first = {}, True
    for label, path in args.studies.items():
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        rows = doc.get("targets", {}).get(target)
        if not rows or doc.get("budget") != args.budget or "zero_shot" not in rows:
            continue
        common = {"zero_shot": rows["zero_shot"]["mean"], "n": doc["evaluation"]["n_items"], "study": _shown(path)}
        plan = (doc.get("pgf_plans") or {}).get(target)
        if plan and rows.get("pgf", {}).get("mean") is not None:
            alloc = {tid(s): int(n) for s, n in plan.items()}
            if all(s in matrix.sources for s in alloc):
                out[label] = {"allocation": alloc, "accuracy": rows["pgf"]["mean"], "n_seeds": rows["pgf"].get("n_seeds"),
                              **common}
        if first:
            kappa = (doc.get("planner") or {}).get("kappa", args.kappa)
            for strategy in ("best_single", "uniform"):
                if rows.get(strategy, {}).get("mean") is None:
                    continue
                p = MixturePlanner(tid(target), args.budget, strategy=strategy, kappa=kappa,
                                   **STUDY_PLANNER["test"]).fit(matrix).to_dict()
                out[strategy] = {"allocation": dict(p["allocation"]), "accuracy": rows[strategy]["mean"],
                                 "n_seeds": rows[strategy].get("n_seeds"), **common}
        first = False
    return out


# ------------------------------------------------------------------ score
def score_mix(args, target: str, alloc: dict) -> dict:
    """Blend, ensemble and merge of one mix (seed means over the matrix's seeds)."""
    from pgfselect.proxy import ensemble_proxy, merge_proxy

    ens = ensemble_proxy(folder(args), alloc, tid(target))
    mer = merge_proxy(folder(args), alloc, tid(target), cache_dir=args.work / "cache")
    return {"allocation": alloc, "blend": ens.blend, "seeds": ens.seeds,
            "ensemble": {"mean": ens.mean, "per_seed": ens.pgf},
            "merge": {"mean": mer.mean, "per_seed": mer.pgf, "blend": mer.blend}}


def score_stage(args, targets: list[str]) -> None:
    from pgfselect.fileio import atomic_write
    from pgfselect.matrix import load

    recorded = committed(args)
    matrix = load(recipe_matrix(args))
    digest = None
    for target in targets:
        start = time.perf_counter()
        path = args.work / "scores" / f"{target}.json"
        have = json.loads(path.read_text()) if path.is_file() else {}
        old = recorded["scores"].get(target, {})
        wanted = {f"validation/{name}": m["allocation"] for name, m in validation_mixes(args, target, matrix)["mixes"].items()}
        wanted.update({f"study/{name}": m["allocation"] for name, m in study_mixes(args, target, matrix).items()})
        computed = 0
        for key, alloc in wanted.items():
            prev = have.get(key) or old.get(key)
            if prev and prev["allocation"] == alloc:
                have[key] = prev
                continue
            need_folder(args)
            if digest is None:
                digest = load(folder(args)).digest()
            have[key] = {**score_mix(args, target, alloc), "matrix_digest": digest}
            computed += 1
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(have, indent=1))
        if have and not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, json.dumps(have, indent=1))
        print(f"{target}: {computed} mixes scored, {len(wanted) - computed} recorded ({time.perf_counter() - start:.0f} s)",
              flush=True)
    save_records(args)


# ------------------------------------------------------------------ metrics
def _finite(x) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def prediction_metrics(pred, actual, groups) -> dict:
    """How well ``pred`` tracks ``actual`` (both PGF): MAE, RMSE, bias, Pearson over all rows, and
    Spearman within each group, averaged over the groups: a group needs ≥ 3 rows whose ``actual``
    values are not all equal (else it is left out, whatever the predictor); a prediction constant
    within a group counts 0 there (it ranks nothing), so every predictor is averaged over the same
    groups."""
    from scipy.stats import pearsonr, spearmanr

    pred, actual, groups = np.asarray(pred, float), np.asarray(actual, float), np.asarray(groups, object)
    ok = np.isfinite(pred) & np.isfinite(actual)
    pred, actual, groups = pred[ok], actual[ok], groups[ok]
    err = pred - actual
    out = {"n": int(ok.sum()), "mae": _finite(np.mean(np.abs(err))) if err.size else None,
           "rmse": _finite(math.sqrt(np.mean(err ** 2))) if err.size else None,
           "bias": _finite(np.mean(err)) if err.size else None, "pearson": None}
    if pred.size >= 3 and np.ptp(pred) > 0 and np.ptp(actual) > 0:
        out["pearson"] = _finite(pearsonr(pred, actual)[0])
    per = {}
    for g in dict.fromkeys(groups):
        k = groups == g
        if k.sum() < 3 or np.ptp(actual[k]) == 0:
            per[str(g)] = None  # nothing to rank: left out, for every predictor alike
        elif np.ptp(pred[k]) == 0:
            per[str(g)] = 0.0  # a constant prediction ranks nothing
        else:
            per[str(g)] = _finite(spearmanr(pred[k], actual[k])[0])
    rhos = [v for v in per.values() if v is not None]
    out.update(spearman_within=_finite(np.mean(rhos)) if rhos else None, spearman_targets=len(rhos),
               spearman_within_per_target=per)
    return out


REGRESSION_ALPHAS = tuple(np.logspace(-3, 3, 13))


def regression_features(rows: list[dict], sources: list[str], with_shares: bool = True) -> np.ndarray:
    """Per mix: the two proxies and the blend, then (``with_shares``) its share of every source."""
    cols = [[r["ensemble"], r["merge"], r["blend"]] for r in rows]
    if with_shares:
        for c, r in zip(cols, rows):
            total = sum(r["allocation"].values())
            c += [r["allocation"].get(s, 0) / total for s in sources]
    return np.array(cols, float)


def regression_predictions(train: list[dict], test: list[dict] | None, sources: list[str],
                           with_shares: bool = True) -> np.ndarray:
    """MDE-style regression (the proxies as features of a ridge regression on the shares), by whole
    targets: each target's rows predicted by a fit on the other targets' ``train`` rows
    (``test`` None: cross-validated on ``train`` itself, leave one target out)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    test = train if test is None else test
    Xtr, ytr = regression_features(train, sources, with_shares), np.array([r["actual"] for r in train], float)
    Xte = regression_features(test, sources, with_shares)
    gtr, gte = np.array([r["target"] for r in train]), np.array([r["target"] for r in test])
    pred = np.full(len(test), np.nan)
    for g in dict.fromkeys(gte):
        fit_rows = gtr != g
        if fit_rows.sum() < 3 or len(set(gtr[fit_rows])) < 2:
            continue
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=REGRESSION_ALPHAS))
        model.fit(Xtr[fit_rows], ytr[fit_rows])
        pred[gte == g] = model.predict(Xte[gte == g])
    return pred


def evaluate_set(rows: list[dict], train_rows: list[dict] | None, sources: list[str]) -> dict:
    """Every predictor's metrics on ``rows``; the regression cross-validated by target (on
    ``train_rows`` when given: fitted there, scored on ``rows``)."""
    groups = [r["target"] for r in rows]
    actual = [r["actual"] for r in rows]
    out = {p: prediction_metrics([r[p] for r in rows], actual, groups) for p in PREDICTORS}
    usable = [r for r in (train_rows if train_rows is not None else rows) if all(np.isfinite(r[p]) for p in PREDICTORS)]
    if rows and usable:
        for key, shares in (("regression", True), ("regression_without_shares", False)):
            pred = regression_predictions(usable, None if train_rows is None else rows, sources, shares)
            if train_rows is None:  # cross-validated on the rows themselves: align with ``rows``
                index = {id(r): k for k, r in enumerate(usable)}
                pred = np.array([pred[index[id(r)]] if id(r) in index else np.nan for r in rows])
            out[key] = {**prediction_metrics(pred, actual, groups),
                        "features": ["ensemble", "merge", "blend"] + (["share of each source"] if shares else []),
                        "model": "StandardScaler + RidgeCV (alphas 1e-3..1e3), leave one target out",
                        "fitted_on": "validation mixes of the other targets"}
    return out


def trained_pgf(correct, n, base_correct, base_n, ceiling) -> float:
    from pgfselect.matrix import pgf_from_counts

    # PGF in counts of the run's own items; the base's count rescaled when the item counts differ
    return float(pgf_from_counts(correct, base_correct * n / base_n, n, ceiling)[0])


def metric_rows(args, rec: dict, matrix, targets: list[str]) -> tuple[list[dict], list[dict]]:
    """(validation rows, study rows): per mix its trained PGF (seed mean) beside its scores."""
    val, study = [], []
    for target in targets:
        j = matrix.targets.index(tid(target))
        base, base_n = float(np.nanmean(matrix.correct_base[:, j])), float(np.nanmean(matrix.n_eval[:, j]))
        ceiling = float(matrix.ceiling[j])
        scores = rec["scores"].get(target, {})
        for name, entry in rec["validation"].get(target, {}).items():
            s = scores.get(f"validation/{name}")
            runs = [r for k, r in sorted(entry["seeds"].items()) if int(k) in args.seeds]
            if not s or s["allocation"] != entry["allocation"] or not runs:
                continue
            per_seed = [trained_pgf(r["correct"], r["n"], base, base_n, ceiling) for r in runs]
            val.append({"target": target, "mix": name, "allocation": entry["allocation"], "actual": float(np.mean(per_seed)),
                        "actual_per_seed": per_seed, "blend": s["blend"], "ensemble": s["ensemble"]["mean"],
                        "merge": s["merge"]["mean"]})
        for name, m in study_mixes(args, target, matrix).items():
            s = scores.get(f"study/{name}")
            if not s or s["allocation"] != m["allocation"]:
                continue
            n = m["n"]
            actual = trained_pgf(m["accuracy"] * n, n, m["zero_shot"] * n, n, ceiling)
            study.append({"target": target, "mix": name, "allocation": m["allocation"], "actual": actual,
                          "accuracy": m["accuracy"], "blend": s["blend"], "ensemble": s["ensemble"]["mean"],
                          "merge": s["merge"]["mean"]})
    return val, study


def better_proxy(validation: dict) -> str | None:
    """The pre-registered choice: the higher mean within-target Spearman, ties by the lower MAE."""
    cands = [k for k in PROXIES if validation.get(k, {}).get("mae") is not None]
    if not cands:
        return None

    def key(k):
        m = validation[k]
        rho = m["spearman_within"] if m["spearman_within"] is not None else -np.inf
        return (rho, -m["mae"])

    return max(cands, key=key)


# ------------------------------------------------------------------ plan
def proxy_plan(args, target: str, kind: str) -> dict:
    """The planner on the proxy (``plan --mixture-model proxy:KIND``) over the re-measured folder."""
    from pgfselect.matrix import load
    from pgfselect.plan import MixturePlanner
    from pgfselect.proxy import ProxyResponse

    response = ProxyResponse(folder(args), tid(target), kind=kind, kappa=args.plan_kappa,
                             n_candidates=args.plan_candidates).fit()
    planner = MixturePlanner(tid(target), args.budget, strategy="pgf", kappa=args.plan_kappa, mixture_model=response)
    return planner.fit(load(folder(args))).to_dict()


def plan_stage(args, targets: list[str]) -> None:
    from pgfselect.errors import PGFSelectError
    from pgfselect.matrix import load
    from pgfselect.plan import write_plan
    from pgfselect.plan.planner import NO_HELPFUL_SOURCE
    from pgfselect.recipes.runner import RecipeRunner
    from pgfselect.recipes.schema import recipe_from_dict

    ensure_base(args)
    rec = records(args)
    kind = args.plan_proxy
    if kind == "auto":
        val, _ = metric_rows(args, rec, load(recipe_matrix(args)), list(rec["validation"]))
        kind = better_proxy(evaluate_set(val, None, []) if val else {})
        if kind is None:
            raise PGFSelectError("no validation mix is trained and scored yet: run --stage mixes and score first, "
                                 "or name the proxy with --plan-proxy")
    print(f"planning on the {kind} proxy", flush=True)
    if args.reuse_arms_from:  # every target at once, so that processes given other targets find theirs
        seed_record(args, [bare(t) for t in measure_cfg(args).tasks], kind)
    recorded = committed(args)
    for target in targets:
        start = time.perf_counter()
        old = recorded["planned"].get(target)
        arms = (old or {}).get("arms", {})
        missing = {arm: [s for s in args.plan_seeds if str(s) not in arms.get(arm, {})] for arm in ("proxy_plan", "best_single")}
        need_zero = "base" not in arms.get("zero_shot", {})
        if old and old["plan"].get("objective") not in (None, f"proxy:{kind}"):
            raise PGFSelectError(f"{target}: the committed plan was made on {old['plan']['objective']}, not proxy:{kind}")
        if old and old["plan"]["status"] == NO_HELPFUL_SOURCE:
            missing["proxy_plan"] = []
        if not any(missing.values()) and not need_zero:
            continue
        need_folder(args)
        plan = proxy_plan(args, target, kind)
        if old and old["plan"]["allocation"] != plan["allocation"]:
            raise PGFSelectError(f"{target}: the committed runs trained the plan {old['plan']['allocation']}; planning "
                                 f"again gives {plan['allocation']} (another matrix or proxy?): not mixed")
        plan_path = args.work / "plans" / "planned" / f"{target}.yaml"
        write_plan(plan, plan_path)
        if plan["status"] == NO_HELPFUL_SOURCE:
            missing["proxy_plan"] = []  # the plan's answer: train nothing (its arm is the zero-shot runs)
        only = [s for arm, s in (("proxy_plan", "pgf"), ("best_single", "best_single")) if missing[arm]]
        only += ["zero_shot"] if need_zero else []
        seeds = sorted({s for v in missing.values() for s in v}) or list(args.plan_seeds)
        doc = dict(study_recipe(args, target, folder(args), "test", seeds), name=f"mixplan-{target}",
                   mixture={"plan": str(plan_path.resolve())}, baselines=["best_single", "zero_shot"])
        RecipeRunner(recipe_from_dict(doc, base_dir=ROOT, where=f"planned arm {target}"), args.work / "planned" / target,
                     cache_dir=args.work / "cache", only=only, progress=not args.quiet).run()
        save_records(args)
        mix = ", ".join(f"{bare(s)} {n}" for s, n in plan["allocation"].items()) or plan["status"]
        print(f"{target}: proxy plan {mix} ({time.perf_counter() - start:.0f} s)", flush=True)
    save_records(args)


def seed_record(args, targets: list[str], kind: str) -> None:
    """A new record for a planned arm on another proxy that reuses another record's best_single and
    zero-shot runs (the same base, test items, seeds and rule: the same runs) and its validation:
    only the proxy plan's own runs are then trained. Written once, before any run; an existing
    record at --results is resumed instead."""
    from pgfselect.errors import PGFSelectError
    from pgfselect.fileio import atomic_write

    path = args.results / RECORDS
    if path.is_file():
        return
    other = json.loads(Path(args.reuse_arms_from).read_text())
    if other.get("format") != RECORDS_FORMAT or other.get("base") is None:
        raise PGFSelectError(f"--reuse-arms-from {args.reuse_arms_from}: not a mixture_proxies record of a known base")
    ensure_base(args)
    fp = base_fingerprint(args)  # hashes the whole weights file: once
    if other["base"] != fp:
        raise PGFSelectError(f"--reuse-arms-from {args.reuse_arms_from}: trained from base {other['base']}, not the "
                             f"cached {fp}: its runs are not comparable")
    need_folder(args)
    new = {**other, "planned": {}}
    for target in targets:
        arms = (other["planned"].get(target) or {}).get("arms", {})
        new["planned"][target] = {"plan": _plan_summary(proxy_plan(args, target, kind)),
                                  "arms": {a: arms[a] for a in ("best_single", "zero_shot") if a in arms}}
    args.results.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(new, indent=None, separators=(",", ":")))
    print(f"{path}: best_single and zero-shot runs reused from {args.reuse_arms_from}", flush=True)


def _arm(runs: dict, seeds: list[int]) -> dict | None:
    from pgfselect.stats import mean_t_interval

    per = [runs[str(s)]["accuracy"] for s in seeds if str(s) in runs]
    if not per:
        return None
    mean, lo, hi = mean_t_interval(per)
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "per_seed": per, "n_seeds": len(per)}


def planner_summary(args, rec: dict, targets: list[str]) -> dict:
    """Per target the proxy plan, best_single, the mean-variance default and the old objective on
    the test split; paired tests over the targets where every seed of both arms is finished."""
    from pgfselect.matrix import load
    from pgfselect.plan import MixturePlanner
    from pgfselect.plan.planner import NO_HELPFUL_SOURCE
    from pgfselect.stats import bootstrap_p_two_sided, paired_bootstrap, sign_test

    # The default is planned on the matrix the arms were planned on (the re-measured folder), when
    # it is here; from a lost work folder, on the committed matrix.
    planned_on = folder(args) if (folder(args) / "matrix.csv").is_file() else recipe_matrix(args)
    matrix = load(planned_on)
    selection = {}
    if args.studies:
        try:
            selection = json.loads(Path(next(iter(args.studies.values()))).read_text())
        except (OSError, json.JSONDecodeError):
            selection = {}
    seeds = list(args.plan_seeds)
    out, items = {}, {}
    for target in targets:
        entry = rec["planned"].get(target)
        if not entry:
            continue
        arms = entry["arms"]
        no_help = entry["plan"]["status"] == NO_HELPFUL_SOURCE
        zero = arms.get("zero_shot", {}).get("base")
        pp_runs = ({str(s): zero for s in seeds} if zero else {}) if no_help else arms.get("proxy_plan", {})
        bs_runs = arms.get("best_single", {})
        row = {"plan": entry["plan"], "proxy_plan": _arm(pp_runs, seeds), "best_single": _arm(bs_runs, seeds)}
        if row["proxy_plan"]:
            row["proxy_plan"]["allocation"] = {bare(k): v for k, v in entry["plan"]["allocation"].items()}
        bs_alloc = next((r["allocation"] for r in bs_runs.values()), None)
        if row["best_single"]:
            row["best_single"]["allocation"] = {bare(k): v for k, v in (bs_alloc or {}).items()}
            study_bs = selection.get("targets", {}).get(target, {}).get("best_single", {}).get("mean")
            row["best_single"]["selection_study_mean"] = study_bs
        default = MixturePlanner(tid(target), args.budget).fit(matrix).to_dict()
        same = bs_alloc is not None and default["allocation"] == bs_alloc
        row["default"] = dict(row["best_single"] or {}, same_as="best_single") if same and row["best_single"] else \
            {"mean": None, "allocation": {bare(k): v for k, v in default["allocation"].items()},
             "note": "plans another mixture than best_single: not trained here"}
        old = selection.get("targets", {}).get(target, {}).get("pgf")
        row["old_objective"] = None if not old else {
            "mean": old["mean"], "ci_low": old.get("ci_low"), "ci_high": old.get("ci_high"), "per_seed": None,
            "allocation": (selection.get("pgf_plans") or {}).get(target), "from": "the selection study (seed means only)"}
        row["same_mixture_as_best_single"] = bool(bs_alloc is not None and bs_alloc == {
            k: v for k, v in entry["plan"]["allocation"].items() if v > 0})
        out[target] = row
        if row["proxy_plan"] and row["best_single"] and row["proxy_plan"]["n_seeds"] == row["best_single"]["n_seeds"] == len(seeds):
            items[target] = ({"base": zero} if no_help else pp_runs, bs_runs, no_help)

    def bits(runs, no_help):
        if no_help:
            return np.array([[int(c) for c in runs["base"]["items"]] for _ in seeds])
        return np.array([[int(c) for c in runs[str(s)]["items"]] for s in seeds])

    complete = list(items)
    tests = {}
    if complete:
        a = {t: bits(items[t][0], items[t][2]) for t in complete}
        b = {t: bits(items[t][1], False) for t in complete}
        boot = paired_bootstrap(a, b)
        d = [out[t]["proxy_plan"]["mean"] - out[t]["best_single"]["mean"] for t in complete]
        tests["proxy_plan_vs_best_single"] = {
            "mean_difference": float(np.mean(d)), "bootstrap_ci95": [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))],
            "p_bootstrap": bootstrap_p_two_sided(boot), "sign_test": sign_test(d), "per_target": dict(zip(complete, d)),
            "targets": len(complete)}
        dd = [t for t in complete if out[t]["default"].get("same_as") == "best_single"]
        tests["proxy_plan_vs_default"] = {**{k: v for k, v in tests["proxy_plan_vs_best_single"].items()},
                                          "default_is_best_single_on": len(dd)} if len(dd) == len(complete) else {
            "note": f"the default plans best_single's mixture on {len(dd)} of {len(complete)} targets only",
            "default_is_best_single_on": len(dd)}
        old_t = [t for t in complete if out[t]["old_objective"]]
        if old_t:
            d_old = [out[t]["proxy_plan"]["mean"] - out[t]["old_objective"]["mean"] for t in old_t]
            tests["proxy_plan_vs_old_objective"] = {"mean_difference": float(np.mean(d_old)), "sign_test": sign_test(d_old),
                                                    "per_target": dict(zip(old_t, d_old)), "targets": len(old_t),
                                                    "note": "the old objective's runs are the selection study's (seed means "
                                                            "only): sign test over targets, no item bootstrap"}
    means = {}
    for arm in ("proxy_plan", "best_single", "default", "old_objective"):
        vals = [out[t][arm]["mean"] for t in complete if out[t].get(arm) and out[t][arm].get("mean") is not None]
        means[arm] = float(np.mean(vals)) if complete and len(vals) == len(complete) else None
    return {"proxy": None, "split": "test", "seeds": seeds, "targets": out, "complete_targets": complete,
            "mean_accuracy": means, "tests": tests,
            "same_mixture_as_best_single": sum(out[t]["same_mixture_as_best_single"] for t in complete)}


# ------------------------------------------------------------------ report
def report_stage(args, targets: list[str]) -> dict:
    from pgfselect.fileio import atomic_write
    from pgfselect.matrix import load

    rec = save_records(args)
    matrix = load(recipe_matrix(args))
    val, study = metric_rows(args, rec, matrix, targets)
    sources = list(matrix.sources)
    validation = evaluate_set(val, None, sources)
    usable_val = [r for r in val if all(np.isfinite(r[p]) for p in PREDICTORS)]
    study_metrics = evaluate_set(study, usable_val, sources) if study else {}
    best = better_proxy(validation)
    planner = planner_summary(args, rec, targets)
    planner["proxy"] = next((e["plan"]["objective"] for e in rec["planned"].values() if e.get("plan")), None)
    pairs = pairs_doc(args)
    reproduced = {}
    for r in val:
        if r["mix"] == "pair" and pairs.get(r["target"], {}).get("pair_seeds"):
            ref = pairs[r["target"]]["pair_seeds"]
            mine = r["actual_per_seed"]
            if len(ref) == len(mine):
                reproduced[r["target"]] = float(np.max(np.abs(np.subtract(ref, mine))))
    goals = {}
    if best and validation.get("blend", {}).get("mae") is not None:
        b, p = validation["blend"], validation[best]
        goals["proxy_mae_le_0.8_blend"] = bool(p["mae"] <= MAE_RATIO_GOAL * b["mae"])
        goals["proxy_spearman_gt_blend"] = (None if p["spearman_within"] is None or b["spearman_within"] is None
                                            else bool(p["spearman_within"] > b["spearman_within"]))
    m, t = planner["mean_accuracy"], planner["tests"].get("proxy_plan_vs_best_single")
    if m.get("proxy_plan") is not None and m.get("best_single") is not None and t:
        goals["plan_ge_best_single_plus_0.005"] = bool(m["proxy_plan"] >= m["best_single"] + PLAN_MARGIN_GOAL)
        goals["plan_wins_ge_losses"] = bool(t["sign_test"]["wins"] >= t["sign_test"]["losses"])
        goals["planner_targets"] = len(planner["complete_targets"])
    mixes = {tg: {"dirichlet_seed": reg["dirichlet_seed"],
                  "mixes": {n: {"allocation": {bare(k): v for k, v in mx["allocation"].items()}, "origin": mx["origin"]}
                            for n, mx in reg["mixes"].items()}}
             for tg in targets for reg in [validation_mixes(args, tg, matrix)]}
    out = {
        "protocol": {"budget": args.budget, "eval_items": args.eval_items, "validation_split": "val",
                     "validation_seeds": args.seeds, "plan_seeds": args.plan_seeds, "plan_split": "test",
                     "matrix": _shown(recipe_matrix(args)), "measure_folder": _shown(folder(args)),
                     "n_mixes": args.n_mixes, "alpha": args.alpha, "plan_kappa": args.plan_kappa,
                     "studies": {k: _shown(v) for k, v in args.studies.items()},
                     "pairs": _shown(args.pairs) if args.pairs else None, "smoke": args.smoke},
        "base": rec["base"], "measure": rec["measure"],
        "mixes": {"alpha": args.alpha, "n_dirichlet": args.n_mixes,
                  "seed_rule": f"int(sha256('{SEED_TAG}' + target).hexdigest()[:8], 16)", "targets": mixes},
        "validation": {**validation, "rows": val, "targets": len({r['target'] for r in val})},
        "study": {**study_metrics, "rows": study, "targets": len({r['target'] for r in study})},
        "better_proxy": best,
        "pair_reproduces_pairs_study": {"max_abs_pgf_difference": reproduced},
        "planner": planner, "goals": goals,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    out = _clean(out)
    atomic_write(args.results / "mixture_proxies.json", json.dumps(out, indent=1, default=_jsonable))
    atomic_write(args.results / "mixture_proxies.md", markdown(out))
    print(json.dumps({"validation": {k: _brief(v) for k, v in validation.items()},
                      "study": {k: _brief(v) for k, v in study_metrics.items()},
                      "better_proxy": best, "planner_mean_accuracy": planner["mean_accuracy"], "goals": goals},
                     indent=1, default=_jsonable), flush=True)
    return out


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(type(x))


def _clean(x):
    """NaN and infinities as null (JSON has no NaN), numpy scalars as Python numbers."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _brief(m: dict) -> dict:
    return {k: m.get(k) for k in ("n", "mae", "pearson", "spearman_within", "spearman_targets")}


def _f(x, fmt="+.3f") -> str:
    return "-" if x is None else format(x, fmt)


def markdown(out: dict) -> str:
    p = out["protocol"]
    lines = ["# Mixture proxies against trained mixes (issue 23)", ""]
    if p["smoke"]:
        lines += ["**SMOKE RUN** (tiny:t64, 3 tasks, a few steps): a check of the script, not a result.", ""]
    ms = out.get("measure") or {}
    if "equal" in ms:
        lines += [f"Re-measured matrix ({ms['cells']} cells) vs `{ms.get('reference')}`: "
                  + ("**equal** (every count, PGF within 1e-6)." if ms["equal"] else
                     f"**differs** ({ms['counts_differ']} cells with other counts, max |Δ PGF| "
                     f"{_f(ms['max_abs_pgf_difference'], '.3g')})."), ""]
    lines += [f"Budget {p['budget']} examples; validation mixes on the val split ({p['eval_items']} items, seeds "
              f"{p['validation_seeds']}); the study's mixes on the test split. PGF of a trained mix: seed mean. "
              "Within-target Spearman: per target over its mixes (≥ 3; a target whose trained mixes all score the "
              "same is left out, a constant prediction counts 0), mean over targets.", ""]
    for name, key in (("Validation mixes", "validation"), ("Selection-study mixes (test split)", "study")):
        sec = out[key]
        lines += [f"## {name} ({sec.get('targets', 0)} targets, {len(sec.get('rows', []))} mixes)", "",
                  "| predictor | MAE | RMSE | bias | Pearson | within-target Spearman (targets) |", "|---|---|---|---|---|---|"]
        for pred in (*PREDICTORS, "regression", "regression_without_shares"):
            m = sec.get(pred)
            if m:
                lines.append(f"| {pred} | {_f(m['mae'], '.3f')} | {_f(m['rmse'], '.3f')} | {_f(m['bias'])} | "
                             f"{_f(m['pearson'], '.2f')} | {_f(m['spearman_within'], '.2f')} ({m['spearman_targets']}) |")
        lines.append("")
        if sec.get("rows"):
            lines += ["| target | mix | trained PGF | blend | ensemble | merge |", "|---|---|---|---|---|---|"]
            for r in sec["rows"]:
                lines.append(f"| {r['target']} | {r['mix']} | {_f(r['actual'])} | {_f(r['blend'])} | "
                             f"{_f(r['ensemble'])} | {_f(r['merge'])} |")
            lines.append("")
    lines += [f"Better proxy (pre-registered rule: within-target Spearman, then MAE): **{out['better_proxy']}**.", ""]
    rep = out["pair_reproduces_pairs_study"]["max_abs_pgf_difference"]
    if rep:
        lines += [f"The re-trained pairs reproduce the pairs study's per-seed PGF on {sum(v < 1e-9 for v in rep.values())} "
                  f"of {len(rep)} targets (max |Δ| {max(rep.values()):.3g}).", ""]
    pl = out["planner"]
    lines += [f"## Planned arm ({pl['proxy']}, test split, seeds {pl['seeds']})", "",
              "| target | proxy plan | best_single | default | old objective | proxy mix |", "|---|---|---|---|---|---|"]
    for t, row in pl["targets"].items():
        cells = []
        for arm in ("proxy_plan", "best_single", "default", "old_objective"):
            r = row.get(arm)
            if not r or r.get("mean") is None:
                cells.append("-")
            elif r.get("ci_low") is None:
                cells.append(f"{r['mean']:.3f}")
            else:
                cells.append(f"{r['mean']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]")
        mix = ", ".join(f"{bare(k)} {v}" for k, v in row["plan"]["allocation"].items()) or row["plan"]["status"]
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {mix} |")
    lines.append("")
    m = pl["mean_accuracy"]
    lines.append(f"Mean test accuracy over the {len(pl['complete_targets'])} complete targets: proxy plan "
                 f"{_f(m.get('proxy_plan'), '.3f')}, best_single {_f(m.get('best_single'), '.3f')}, default "
                 f"{_f(m.get('default'), '.3f')}, old objective {_f(m.get('old_objective'), '.3f')}; the proxy plan is "
                 f"best_single's mixture on {pl['same_mixture_as_best_single']}.")
    for name, x in pl["tests"].items():
        if "mean_difference" not in x:
            lines.append(f"- {name}: {x.get('note')}")
            continue
        s = x["sign_test"]
        boot = (f" (bootstrap 95% CI [{x['bootstrap_ci95'][0]:+.3f}, {x['bootstrap_ci95'][1]:+.3f}], p {x['p_bootstrap']:.3g})"
                if "bootstrap_ci95" in x else "")
        lines.append(f"- {name}: mean {x['mean_difference']:+.3f}{boot}; wins {s['wins']}, losses {s['losses']}, "
                     f"ties {s['ties']} (sign test p {s['p']:.3g})")
    lines += ["", "## Goals", ""]
    for k, v in out["goals"].items():
        lines.append(f"- {k}: {v}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    from pgfselect.names import BLINK_TASKS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", choices=["measure", "mixes", "score", "plan", "report", "all"], default="all")
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "mixture_proxies")
    ap.add_argument("--results", type=Path, default=None,
                    help="where the JSON, the markdown and the record go (default benchmarks/results; "
                         "with --smoke WORK/results)")
    ap.add_argument("--measure-config", default=str(ROOT / "recipes" / "measure-synthetic.yaml"))
    ap.add_argument("--reference-matrix", default=str(COMMITTED / "selection_synthetic_matrix.csv"),
                    help="the committed matrix the re-measure must equal and the mixes are planned on")
    ap.add_argument("--pairs", default=str(COMMITTED / "selection_synthetic_pairs.json"))
    ap.add_argument("--study", action="append", metavar="LABEL=JSON",
                    help="a selection-study result whose pgf mixes are scored (repeatable; default the s = 500 and "
                         "s = 38 studies; the first also gives best_single, uniform and the planned arm's references)")
    ap.add_argument("--executor", choices=["local", "ray"], default="local", help="measure stage: cells here or as Ray tasks")
    ap.add_argument("--targets", default="all", help="comma-separated synthetic task names, or all")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--eval-items", type=int, default=256)
    ap.add_argument("--seeds", default="0,1", help="training seeds of the validation mixes")
    ap.add_argument("--plan-seeds", default="0,1,2", help="training seeds of the planned arm")
    ap.add_argument("--n-mixes", type=int, default=4, help="Dirichlet mixes per target beside the pair")
    ap.add_argument("--alpha", type=float, default=1.0, help="the Dirichlet's concentration over the chosen sources")
    ap.add_argument("--kappa", type=float, default=1.0, help="κ of the pairs and selection studies' rules")
    ap.add_argument("--plan-kappa", type=float, default=0.0, help="κ of the proxy-driven planner")
    ap.add_argument("--plan-candidates", type=int, default=None,
                    help="Dirichlet mixes the proxy search scores before refining (default: the library's, "
                         "512 for ensemble, 16 for merge)")
    ap.add_argument("--plan-proxy", choices=["auto", *PROXIES], default="auto",
                    help="the planned arm's proxy (auto: the better one on the validation mixes)")
    ap.add_argument("--reuse-arms-from", default=None, metavar="RECORD",
                    help="plan stage, into a new --results: take best_single's and zero-shot's runs (and the "
                         "validation) from this record of the same base, so only the proxy plan's runs train")
    ap.add_argument("--smoke", action="store_true",
                    help="the whole pipeline on tiny:t64, 3 tasks, a few steps (a check of the script)")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    explicit = {a.split("=")[0].lstrip("-").replace("-", "_") for a in (argv if argv is not None else __import__("sys").argv[1:])
                if a.startswith("--")}
    if args.smoke:
        for k, v in SMOKE.items():
            if k not in explicit:
                setattr(args, k, ",".join(map(str, v)) if isinstance(v, list) else v)
        if "reference_matrix" not in explicit:
            args.reference_matrix = None
        if "pairs" not in explicit:
            args.pairs = None
        if "targets" not in explicit:
            args.targets = ",".join(SMOKE_TASKS)
    args.seeds = [int(s) for s in str(args.seeds).split(",")]
    args.plan_seeds = [int(s) for s in str(args.plan_seeds).split(",")]
    if args.study is None:
        args.studies = {} if args.smoke else {"pgf_s500": str(COMMITTED / "selection_synthetic.json"),
                                              "pgf_s38": str(COMMITTED / "selection_synthetic_s38.json")}
    else:
        args.studies = dict(s.split("=", 1) for s in args.study)
    if args.results is None:
        args.results = args.work / "results" if args.smoke else COMMITTED
    if args.smoke and Path(args.results).resolve() == COMMITTED.resolve():
        ap.error("--smoke never writes into benchmarks/results; give --results elsewhere")
    if args.targets == "all":
        targets = list(BLINK_TASKS)
    else:
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    return args, targets


def main(argv=None):
    args, targets = parse_args(argv)
    start = time.perf_counter()
    print(f"targets: {', '.join(targets)}; work {args.work}; results {args.results}", flush=True)
    stages = [("mixes", mixes_stage), ("score", score_stage), ("plan", plan_stage), ("report", report_stage)]
    if args.stage == "measure":
        measure_stage(args)
    elif args.stage == "all":
        if committed(args)["measure"] is None:
            measure_stage(args)
        else:  # a later stage measures the folder again only if it needs it (need_folder)
            print("measure: recorded in the committed results; not measured again unless a later stage needs it",
                  flush=True)
    print(f"[after measure: {time.perf_counter() - start:.0f} s]", flush=True)
    for name, stage in stages:
        if args.stage in (name, "all"):
            stage(args, targets)
            print(f"[after {name}: {time.perf_counter() - start:.0f} s]", flush=True)
    print(f"wall time: {time.perf_counter() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
