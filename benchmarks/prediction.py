"""Benchmark of `pgfselect.predict` on the three published matrices (seed means), CPU, seconds.

Protocol (issue 10):

* ``masked``: per model and observed fraction f (0.2, 0.3, 0.5, 0.7), random masks that observe a
  fraction f of the 156 off-diagonal cells plus the whole diagonal. Reported over held-out
  off-diagonal cells: ``mae``, ``coverage90`` (share inside mean ± 1.645·std); per target column with
  ≥ 1 held-out source: ``top3_overlap`` (how many of the 3 picked sources have true PGF ≥ the true
  3rd best) and ``regret`` (Σ true top 3 − Σ true of the 3 picked), picking by completed value
  (measured value where measured), against ``regret_measured_only`` (best 3 measured sources,
  random fill — its exact expectation — when fewer than 3 are measured). Mean and sd over masks.
  ``masked`` uses no prior; ``masked_prior`` adds the two other published matrices as priors.
* ``screening``: every target of 32B (priors 3B and 7B) and of 7B (prior 3B), nothing of the
  model measured: ``suggest`` 5 sources; regret of the best 3 of them by true value, against the
  exact expectation over 5 random sources.
* ``prior_only_factor``: the 90% quantile of |truth − prior| / prior column spread, which sets
  ``PRIOR_ONLY_FACTOR`` (the std when nothing is measured).

Usage: ``python benchmarks/prediction.py [--masks 50] [--quick] [--out benchmarks/results]``.
Writes ``results/prediction.json`` and the ``prediction`` section of ``RESULTS.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pgfselect.fileio import atomic_write, package_versions  # noqa: E402
from pgfselect.matrix import MEASURED, UNMEASURED, PGFMatrix, load  # noqa: E402
from pgfselect.predict import PRIOR_ONLY_FACTOR, MatrixCompleter, empty_like, suggest  # noqa: E402

MODELS = {"3b": "published:qwen2.5-vl-3b", "7b": "published:qwen2.5-vl-7b", "32b": "published:qwen2.5-vl-32b"}
FRACTIONS = (0.2, 0.3, 0.5, 0.7)
SCREENING = {"32b": ("3b", "7b"), "7b": ("3b",)}
GOALS = {"mae_must": {"3b": 0.087, "7b": 0.172, "32b": 0.082},
         "mae_aim": {"3b": 0.064, "7b": 0.101, "32b": 0.071},
         "coverage90": [0.85, 0.95], "top3_overlap": 1.25, "regret_vs_measured_only": 0.85,
         "regret_vs_measured_only_aim": 0.6, "screening_vs_random": {"32b": 0.6, "7b": 0.8}}
Z90 = 1.6448536269514722


def hide(m: PGFMatrix, observed: np.ndarray) -> PGFMatrix:
    """The same matrix with every seed of the cells outside ``observed`` marked unmeasured."""
    status = np.where(observed[None], m.status, UNMEASURED)
    return PGFMatrix(m.sources, m.targets, m.seeds, np.where(status == MEASURED, m.values, np.nan),
                     status, model=m.model, name=m.name)


def random_mask(n: int, frac: float, rng) -> np.ndarray:
    off = np.argwhere(~np.eye(n, dtype=bool))
    pick = rng.choice(len(off), int(round(frac * len(off))), replace=False)
    obs = np.eye(n, dtype=bool)
    obs[tuple(off[pick].T)] = True
    return obs


def top3_metrics(truth: np.ndarray, mean: np.ndarray, obs: np.ndarray):
    """Per target column with ≥ 1 held-out source: overlap, regret, measured-only regret."""
    n = truth.shape[0]
    ov, rg, rg_mo = [], [], []
    for j in range(n):
        src = [i for i in range(n) if i != j]
        if all(obs[i, j] for i in src):
            continue
        true = truth[src, j]
        best3 = np.sort(true)[::-1][:3]
        completed = np.array([truth[i, j] if obs[i, j] else mean[i, j] for i in src])
        pick = np.argsort(-completed, kind="stable")[:3]
        ov.append(int(np.sum(true[pick] >= best3[2])))
        rg.append(best3.sum() - true[pick].sum())
        meas = sorted((k for k, i in enumerate(src) if obs[i, j]), key=lambda k: -true[k])[:3]
        rest = [k for k in range(len(src)) if k not in meas]
        fill = (3 - len(meas)) * float(np.mean(true[rest])) if len(meas) < 3 else 0.0
        rg_mo.append(best3.sum() - true[meas].sum() - fill)
    return float(np.mean(ov)), float(np.mean(rg)), float(np.mean(rg_mo))


def run_masked(mats, frac, n_masks, seed, with_prior, **params):
    out = {}
    for key, m in mats.items():
        truth = m.mean()
        n = truth.shape[0]
        off = ~np.eye(n, dtype=bool)
        priors = [mats[k] for k in mats if k != key] if with_prior else []
        rng = np.random.default_rng([seed, int(frac * 100), n])
        rows = []
        for _ in range(n_masks):
            obs = random_mask(n, frac, rng)
            c = MatrixCompleter(**params).fit(hide(m, obs), priors)
            held = off & ~obs
            err = np.abs(c.mean_ - truth)[held]
            cover = np.mean(err <= Z90 * c.std_[held])
            ov, rg, rg_mo = top3_metrics(truth, c.mean_, obs)
            rows.append((err.mean(), cover, ov, rg, rg_mo))
        a = np.array(rows)
        mean, sd = a.mean(0), a.std(0, ddof=1)
        out[key] = {"mae": round(mean[0], 4), "mae_sd": round(sd[0], 4),
                    "coverage90": round(mean[1], 3), "coverage90_sd": round(sd[1], 3),
                    "top3_overlap": round(mean[2], 3), "top3_overlap_sd": round(sd[2], 3),
                    "regret": round(mean[3], 4), "regret_sd": round(sd[3], 4),
                    "regret_measured_only": round(mean[4], 4), "regret_measured_only_sd": round(sd[4], 4),
                    "regret_ratio": round(mean[3] / mean[4], 3), "n_masks": n_masks}
    return out


def run_screening(mats, n_suggest=5):
    out = {}
    for key, prior_keys in SCREENING.items():
        m = mats[key]
        truth = m.mean()
        n = truth.shape[0]
        priors = [mats[k] for k in prior_keys]
        empty = empty_like(m)
        completer = MatrixCompleter().fit(empty, priors)
        regrets, randoms, per_target = [], [], {}
        for j, t in enumerate(m.targets):
            s = suggest(empty, t, n_suggest, priors, completer=completer)
            src = [i for i in range(n) if m.sources[i] != t]
            true = {m.sources[i]: truth[i, j] for i in src}
            best3 = sum(sorted(true.values(), reverse=True)[:3])
            got = best3 - sum(sorted((true[x] for x in s.sources), reverse=True)[:3])
            vals = list(true.values())
            rnd = float(np.mean([best3 - sum(sorted((vals[k] for k in comb), reverse=True)[:3])
                                 for comb in itertools.combinations(range(len(vals)), n_suggest)]))
            regrets.append(got)
            randoms.append(rnd)
            per_target[t] = {"suggest": s.sources, "regret": round(got, 4), "random_regret": round(rnd, 4)}
        out[key] = {"priors": [MODELS[k] for k in prior_keys], "n_suggest": n_suggest,
                    "regret": round(float(np.mean(regrets)), 4), "random_regret": round(float(np.mean(randoms)), 4),
                    "ratio": round(float(np.mean(regrets) / np.mean(randoms)), 3), "per_target": per_target}
    return out


def run_adaptive(mats, n_steps=5):
    """The loop `measure --adaptive` would run: suggest 1, measure its row (here: reveal it from
    the published matrix), refit, repeat; against suggesting all 5 at once. Regret of the best 3
    measured sources for the target after 5 finetunes."""
    out = {}
    for key, prior_keys in SCREENING.items():
        m = mats[key]
        truth = m.mean()
        priors = [mats[k] for k in prior_keys]
        regrets = []
        for j, t in enumerate(m.targets):
            rows = np.zeros(len(m.sources), bool)
            for _ in range(n_steps):
                partial = hide(m, np.broadcast_to(rows[:, None], truth.shape))
                rows[m.sources.index(suggest(partial, t, 1, priors).sources[0])] = True
            true = [truth[i, j] for i in range(len(m.sources)) if m.sources[i] != t]
            got = [truth[i, j] for i in np.flatnonzero(rows)]
            regrets.append(sum(sorted(true)[-3:]) - sum(sorted(got)[-3:]))
        out[key] = {"priors": [MODELS[k] for k in prior_keys], "n_finetunes": n_steps,
                    "regret": round(float(np.mean(regrets)), 4)}
    return out


def prior_only_factor(mats):
    """Nothing measured: |truth − priors' value| / prior_only_scale, every published model from
    the others (each alone and together). Sets PRIOR_ONLY_FACTOR; reports the coverage it gives."""
    ratios, cases = [], {}
    for key, m in mats.items():
        others = [k for k in mats if k != key]
        for subset in [others] + [[k] for k in others]:
            c = MatrixCompleter().fit(empty_like(m), [mats[k] for k in subset])
            off = ~np.eye(len(m.sources), dtype=bool)
            r = (np.abs(m.mean() - c.mean_) / (c.std_ / PRIOR_ONLY_FACTOR))[off]
            ratios.extend(r.tolist())
            cases[f"{key} from {'+'.join(subset)}"] = round(float(np.mean(r <= Z90 * PRIOR_ONLY_FACTOR)), 3)
    ratios = np.sort(ratios)
    k = int(np.ceil((len(ratios) + 1) * 0.9)) - 1
    return {"conformal_q90_over_z": round(float(ratios[min(k, len(ratios) - 1)] / Z90), 3),
            "in_use": PRIOR_ONLY_FACTOR, "coverage90_in_use": cases}


def check_goals(res):
    ok = {}
    m30 = res["masked"]["0.3"]
    for k, r in m30.items():
        ok[f"mae_{k}"] = r["mae"] <= GOALS["mae_must"][k]
        ok[f"coverage90_{k}"] = GOALS["coverage90"][0] <= r["coverage90"] <= GOALS["coverage90"][1]
        ok[f"top3_overlap_{k}"] = r["top3_overlap"] >= GOALS["top3_overlap"]
        ok[f"regret_{k}"] = r["regret_ratio"] <= GOALS["regret_vs_measured_only"]
    for k, r in res["screening"].items():
        ok[f"screening_{k}"] = r["ratio"] <= GOALS["screening_vs_random"][k]
    return ok


def markdown(res) -> str:
    lines = ["## prediction", "",
             "Command: `.venv/bin/python benchmarks/prediction.py` (issue 10; every number in "
             "`results/prediction.json`). Published matrices, seed means; "
             f"{res['n_masks']} random masks per model and fraction, the diagonal always observed; mean ± sd "
             f"over masks. Runtime {res['runtime_s']:.0f} s on CPU.", "",
             "Model (`pgfselect.predict.MatrixCompleter`): ridge row + column additive model on the measured "
             "off-diagonal cells, strengths by 5-fold CV, diagonal apart, plus a task-similarity regressor "
             "(how many of level, granularity, image count, answer count two BLINK tasks share; fixed "
             "strong ridge); priors enter as their column level "
             "and their within-column z-score × the column's own spread (coefficient shrunk towards 0.3). "
             "std = per-regime factor × per-column residual spread, from split-conformal quantiles of "
             "K-fold and leave-one-column-out residuals. Tried and not kept (no gain beyond noise on these "
             "masks): a Huber-robust fit (7B MAE −0.007, 3B +0.001, rankings unchanged), column-weighted "
             "least squares, a multiplicative row × column-spread model, the diagonal as a regressor, raw "
             "(not z-scored) prior deviations (better ranking, worse MAE on 3B/32B).", "",
             "Masked completion, no prior (f = observed share of off-diagonal cells):", "",
             "| model | f | MAE | coverage90 | top-3 overlap | regret | measured-only regret | ratio |",
             "|---|---|---|---|---|---|---|---|"]

    def table(block):
        for f, per in block.items():
            for k, r in per.items():
                lines.append(f"| {k} | {f} | {r['mae']:.3f} ± {r['mae_sd']:.3f} | {r['coverage90']:.2f} ± "
                             f"{r['coverage90_sd']:.2f} | {r['top3_overlap']:.2f} ± {r['top3_overlap_sd']:.2f} | "
                             f"{r['regret']:.3f} ± {r['regret_sd']:.3f} | {r['regret_measured_only']:.3f} ± "
                             f"{r['regret_measured_only_sd']:.3f} | {r['regret_ratio']:.2f} |")

    table(res["masked"])
    lines += ["", "Same, with the two other published matrices as priors:", "",
              "| model | f | MAE | coverage90 | top-3 overlap | regret | measured-only regret | ratio |",
              "|---|---|---|---|---|---|---|---|"]
    table(res["masked_prior"])
    lines += ["", "Ablation: no prior and no task-similarity regressor (the plain additive model):", "",
              "| model | f | MAE | coverage90 | top-3 overlap | regret | measured-only regret | ratio |",
              "|---|---|---|---|---|---|---|---|"]
    table(res["masked_no_similarity"])
    lines += ["", "Screening (nothing of the model measured; suggest 5, keep the best 3 by true value):", "",
              "| model | priors | regret | 5 random sources | ratio |", "|---|---|---|---|---|"]
    for k, r in res["screening"].items():
        lines.append(f"| {k} | {', '.join(r['priors'])} | {r['regret']:.3f} | {r['random_regret']:.3f} | "
                     f"{r['ratio']:.2f} |")
    lines += ["", "Adaptive loop (suggest 1 → measure its row → refit, 5 times; best 3 measured): regret "
              + ", ".join(f"{k} {r['regret']:.3f} (one-shot {res['screening'][k]['regret']:.3f})"
                          for k, r in res["screening_adaptive"].items()) + "."]
    g = res["goals_met"]
    lines += ["", f"Must-meet goals (f = 0.3, no prior; screening with priors): {sum(g.values())}/{len(g)} met"
              + ("" if all(g.values()) else f"; missed: {', '.join(k for k, v in g.items() if not v)}") + ".",
              "Seed noise for reference (one seed vs the mean of the other three, MAE): 0.032 / 0.051 / 0.036; "
              "aims (MAE ≤ 0.064 / 0.101 / 0.071, regret ≤ 0.6× measured-only) are met only where the "
              "tables say so.",
              "Without a prior the within-column order of unmeasured sources is hard to predict: the plain "
              "additive model's top-3 overlap sits at 1.23–1.33 (sd over masks ≈ 0.2), so the 1.25 goal on "
              "7B and 32B was met on some mask sets and missed on others; the task-similarity regressor "
              "lifts it (ablation above), priors lift it further.",
              f"Priors-only std factor: {res['prior_only_factor']['in_use']} in use (conformal estimate "
              f"{res['prior_only_factor']['conformal_q90_over_z']}); its coverage per case: "
              + ", ".join(f"{k} {v:.2f}" for k, v in res["prior_only_factor"]["coverage90_in_use"].items()) + ".",
              ""]
    return "\n".join(lines)


def merge_section(path: Path, section: str) -> None:
    """Replace (or append) the '## prediction' section, leaving other helpers' sections alone."""
    text = path.read_text() if path.is_file() else "# Benchmark results\n\n"
    here = re.search(r"(?m)^## prediction[ \t]*$", text)
    if here:
        nxt = re.search(r"(?m)^## ", text[here.end():])
        text = text[:here.start()] + section + ("" if nxt is None else "\n" + text[here.end() + nxt.start():])
    else:
        text = text.rstrip("\n") + "\n\n" + section
    atomic_write(path, text)


def _plain(o):
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--masks", type=int, default=50, help="random masks per model and fraction")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="f = 0.3 only, 10 masks (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args(argv)
    t0 = time.time()
    mats = {k: load(v) for k, v in MODELS.items()}
    fracs = (0.3,) if args.quick else FRACTIONS
    n_masks = 10 if args.quick else args.masks
    res = {"protocol": "issue 10: published matrices, seed means, diagonal observed", "n_masks": n_masks,
           "seed": args.seed, "goals": GOALS}
    res["masked"] = {str(f): run_masked(mats, f, n_masks, args.seed, False) for f in fracs}
    res["masked_prior"] = {str(f): run_masked(mats, f, n_masks, args.seed, True) for f in fracs}
    res["masked_no_similarity"] = {"0.3": run_masked(mats, 0.3, n_masks, args.seed, False, use_similarity=False)}
    res["screening"] = run_screening(mats)
    res["screening_adaptive"] = run_adaptive(mats)
    res["prior_only_factor"] = prior_only_factor(mats)
    res["goals_met"] = check_goals(res)
    res["runtime_s"] = round(time.time() - t0, 1)
    res["environment"] = {"python": platform.python_version(), **package_versions(("numpy", "scipy"))}
    out = Path(args.out)
    if not args.quick:
        atomic_write(out / "prediction.json", json.dumps(res, indent=1, default=_plain))
        merge_section(out.parent / "RESULTS.md", markdown(res))
    print(markdown(res))
    return res


if __name__ == "__main__":
    main()
