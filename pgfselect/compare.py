"""Compare the runs of ``pgfselect train``: mean accuracy with a t-interval over seeds, gain over
zero-shot, paired differences against ``direct`` and ``random``, predicted vs observed gain of the
planned mixtures, and a power check. numpy/scipy/matplotlib only (no torch): it runs anywhere.

Statistics, per strategy with accuracies a_1..a_n over n seeds:

* mean ± Student-t interval, t_{n−1} · sd/√n (no interval with one seed), and beside it the
  Wilson interval that the n_eval evaluation items alone leave (seeds cannot shrink it);
* a paired comparison with a reference strategy on the seeds both ran: mean difference, its
  t-interval, the paired t-test p-value and the exact Wilcoxon signed-rank p-value (which cannot
  go below 2/2^n: with 4 seeds, 0.125);
* observed PGF per seed, (a − b)/(1 − b) with b the zero-shot accuracy on the same items,
  against the plan's ``expected`` PGF, i.e. a predicted accuracy b + PGF·(1 − b);
* power: the smallest difference a two-sided t-test at α = 0.05 detects with 80% power given the
  observed seed standard deviation and n (exact, from the noncentral t). When a predicted
  difference is below it, the comparison cannot confirm or refute the plan with this many seeds,
  and the row says how many seeds would.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import PGFSelectError
from .fileio import atomic_write
from .names import resolve
from .plan.strategies import table_rank
from .plotting import png_bytes, pyplot
from .records import is_run_record, recipe_hash_of
from .stats import mean_t_interval, wilson_interval
from .wording import plural

REFERENCES = ("direct", "random")
ALPHA, POWER = 0.05, 0.80


@dataclass
class RunRecord:
    """One finished run, read from its ``metrics.json``."""

    folder: Path  # the recipe output folder (R)
    path: Path  # the run folder
    recipe_hash: str
    strategy: str
    seed: int | None
    target: str
    accuracy: float
    correct: int
    n: int
    expected_pgf: float | None = None
    tasks: dict = field(default_factory=dict)  # task id -> accuracy
    label: str = ""
    top_answer_share: float | None = None  # share of target items given the run's most common answer
    base_fingerprint: str | None = None  # the built tiny base it trained from (config.json)


# ------------------------------------------------------------------ loading
def load_runs(paths, task: str | None = None) -> list[RunRecord]:
    """Finished runs under each path: a recipe's output folder (``R/runs/*/*/metrics.json``) or
    one run folder. Several folders of the same recipe pool their seeds; folders of different
    recipes are labelled ``FOLDER:strategy``. ``task``: compare on another evaluated task than
    the target (recipes with ``evaluation.tasks: all`` score every task: a transfer row)."""
    runs: list[RunRecord] = []
    for raw in paths:
        p = Path(raw)
        if (p / "metrics.json").is_file():
            found = [_read_run(p / "metrics.json", p.parents[2] if len(p.parents) > 2 else p, task)]
        elif p.is_dir():
            found = [_read_run(f, p, task) for f in sorted(p.glob("runs/*/*/metrics.json"))]
            current = recipe_hash_of(p)
            if current is not None:  # runs left by another recipe (trained with force=True) are not this folder's
                found = [r for r in found if r.recipe_hash == current]
            if not found:
                raise PGFSelectError(f"{str(p)!r} holds no finished runs (no runs/STRATEGY/SEED/metrics.json); "
                                     "is it the output folder of a recipe run (pgfselect train)?")
        else:
            raise PGFSelectError(f"run folder {str(p)!r} not found")
        runs += found
    if not runs:
        raise PGFSelectError("no runs given")
    groups = {r.recipe_hash for r in runs}
    seen = {}
    for r in runs:
        r.label = r.strategy if len(groups) == 1 else f"{r.folder.name}:{r.strategy}"
        key = (r.recipe_hash, r.strategy, r.seed)
        if key in seen:
            raise PGFSelectError(f"run {r.strategy} seed {r.seed} is given twice ({seen[key]} and {r.path})")
        seen[key] = r.path
    targets = {r.target for r in runs}
    if len(targets) > 1:
        raise PGFSelectError(f"the runs evaluate different targets ({', '.join(sorted(targets))}); compare one target at a time")
    return runs


def _read_run(path: Path, folder: Path, task: str | None = None) -> RunRecord:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PGFSelectError(f"cannot read {str(path)!r}: {exc}") from None
    if not is_run_record(doc):
        raise PGFSelectError(f"{str(path)!r} is not a pgfselect run record (format {doc.get('format')!r})")
    evaluated = None
    if task is not None:  # resolved outside the try below: its error is a message of its own
        evaluated = _evaluated_task(task, doc.get("tasks") or {}, path)
    try:
        scores = {"accuracy": doc["accuracy"], "correct": doc["correct"], "n": doc["n"]}
        target, expected = doc["target"], doc.get("expected_pgf")
        if task is not None:
            target = evaluated
            scores = doc["tasks"][target]
            expected = expected if target == doc["target"] else None  # the plan predicts its target only
        rec = RunRecord(folder=folder, path=path.parent, recipe_hash=doc["recipe_hash"], strategy=doc["strategy"],
                        seed=doc["seed"], target=target, accuracy=float(scores["accuracy"]),
                        correct=int(scores["correct"]), n=int(scores["n"]), expected_pgf=expected,
                        tasks={t: v["accuracy"] for t, v in doc.get("tasks", {}).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise PGFSelectError(f"{str(path)!r} lacks a valid {exc} entry") from None
    rec.top_answer_share = _top_answer_share(path.parent / "predictions.jsonl", rec.target)
    try:
        rec.base_fingerprint = json.loads((path.parent / "config.json").read_text()).get("base_fingerprint")
    except (OSError, json.JSONDecodeError, AttributeError):
        pass  # a run folder without its config (copied by hand): nothing to check
    return rec


def _evaluated_task(name: str, tasks: dict, path: Path) -> str:
    if not isinstance(tasks, dict) or not tasks:
        raise PGFSelectError(f"task {name!r}: {path} records no per-task scores (only its target); "
                             "score more tasks with the recipe's evaluation.tasks: all")
    try:
        return name if name in tasks else resolve(name, list(tasks), "evaluated task")
    except PGFSelectError as exc:
        raise PGFSelectError(f"task {name!r}: {exc} (in {path}; score more tasks with the recipe's "
                             "evaluation.tasks: all)") from None


def _top_answer_share(path: Path, target: str) -> float | None:
    """How often the run gives its most common answer on the target (1.0: always the same letter)."""
    try:
        preds = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError):
        return None
    answers = Counter(p.get("pred") for p in preds if p.get("task", target) == target)
    return max(answers.values()) / sum(answers.values()) if answers else None


# ------------------------------------------------------------------ statistics
t_interval = mean_t_interval  # its name here before pgfselect.stats (benchmarks/scarce_target.py)


def paired_difference(a: dict, b: dict, level: float = 0.95) -> dict | None:
    """a − b on the seeds both have: mean, t-interval, paired t-test and Wilcoxon p-values."""
    from scipy import stats

    seeds = sorted(set(a) & set(b), key=str)
    if not seeds:
        return None
    d = np.array([a[s] - b[s] for s in seeds], float)
    mean, lo, hi = mean_t_interval(d, level)
    out = {"n_pairs": len(seeds), "mean_diff": mean, "ci_low": lo, "ci_high": hi, "p_t": None, "p_wilcoxon": None,
           "sd": float(d.std(ddof=1)) if d.size > 1 else None}
    if d.size >= 2:
        if np.allclose(d, d[0], rtol=0, atol=1e-12):  # no spread: the t statistic is undefined
            out["p_t"] = 1.0 if abs(d[0]) < 1e-12 else None
        else:
            out["p_t"] = float(stats.ttest_1samp(d, 0.0).pvalue)
        if np.any(d != 0):
            out["p_wilcoxon"] = float(stats.wilcoxon(d, zero_method="zsplit", method="exact").pvalue) \
                if d.size <= 25 else float(stats.wilcoxon(d, zero_method="zsplit").pvalue)
        else:
            out["p_wilcoxon"] = 1.0
    return out


def min_detectable_difference(sd: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """Smallest true mean difference a two-sided one-sample (or paired) t-test on ``n`` values with
    standard deviation ``sd`` detects with probability ``power`` (exact, noncentral t)."""
    from scipy import optimize, stats

    if n < 2 or sd is None or not math.isfinite(sd):
        return None
    if sd == 0:
        return 0.0
    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)

    def achieved(delta):
        nc = delta * math.sqrt(n) / sd
        p = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
        return (1.0 if math.isnan(p) else p) - power  # scipy's nct gives NaN far in the tail, where power is 1

    hi = sd
    while achieved(hi) < 0:
        hi *= 2
        if hi > 1e6 * sd:  # pragma: no cover - power is reachable for any n >= 2
            return None
    return float(optimize.brentq(achieved, 0.0, hi, xtol=1e-9 * sd))


def seeds_needed(sd: float, difference: float, alpha: float = ALPHA, power: float = POWER, limit: int = 1000) -> int | None:
    """Fewest seeds whose minimum detectable difference is at most ``|difference|``."""
    if sd is None or not math.isfinite(sd) or difference == 0:
        return None
    ok = lambda n: min_detectable_difference(sd, n, alpha, power) <= abs(difference)  # noqa: E731
    if not ok(limit):
        return None
    lo, hi = 1, limit  # the detectable difference shrinks as n grows: bisect on n
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


# ------------------------------------------------------------------ the table
def compare(runs: list[RunRecord], level: float = 0.95, references=REFERENCES) -> list[dict]:
    """One row per strategy (mixture first, baselines after, in the recipe's order as found)."""
    groups: dict[str, list[RunRecord]] = {}
    for r in runs:
        groups.setdefault(r.recipe_hash, []).append(r)
    rows = []
    for group in groups.values():
        rows += _group_rows(group, level, references)
    return rows


def _group_rows(runs: list[RunRecord], level: float, references) -> list[dict]:
    by: dict[str, list[RunRecord]] = {}
    for r in runs:
        by.setdefault(r.strategy, []).append(r)
    zs = by.get("zero_shot")
    base = float(np.mean([r.accuracy for r in zs])) if zs else None
    acc = {s: {r.seed: r.accuracy for r in rs} for s, rs in by.items()}
    predicted = {s: _predicted(rs, base) for s, rs in by.items()}
    bases = sorted({r.base_fingerprint for r in runs if r.base_fingerprint})
    mixed = (f"these runs trained from {len(bases)} different tiny bases ({', '.join(bases)}; the same recipe on "
             "different CPU types): their differences mix models") if len(bases) > 1 else None
    rows = []
    for strategy, rs in sorted(by.items(), key=lambda kv: table_rank(kv[0])):
        rs = sorted(rs, key=lambda r: (r.seed is None, r.seed))
        values = [r.accuracy for r in rs]
        mean, lo, hi = mean_t_interval(values, level)
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else None
        row = {"strategy": rs[0].label, "target": rs[0].target, "mean": mean, "ci_low": lo, "ci_high": hi,
               "n_seeds": len(values), "sd": sd, "level": level,
               "accuracies": {("base" if r.seed is None else str(r.seed)): r.accuracy for r in rs},
               "n_eval": rs[0].n, "folder": str(rs[0].folder), "warnings": []}
        row["eval_ci_low"], row["eval_ci_high"] = wilson_interval(mean, rs[0].n, level)
        row["gain_vs_zero_shot"] = None if base is None else mean - base
        row.update(_pgf_fields(values, base, level, predicted[strategy]))
        for ref in references:
            if ref in acc and ref != strategy and strategy != "zero_shot":
                row[f"vs_{ref}"] = paired_difference(acc[strategy], acc[ref], level)
            else:
                row[f"vs_{ref}"] = None
        row["power"] = _power(strategy, row, predicted, acc, base)
        shares = [r.top_answer_share for r in rs]
        row["top_answer_share"] = None if None in shares else max(shares)
        if mixed:
            row["warnings"].append(mixed)
        if row["top_answer_share"] == 1.0:
            row["warnings"].append("every run gives the same answer to every target item: the model has not "
                                   "learned the task (its accuracy is the share of that answer)")
        if strategy != "zero_shot" and len(values) < 2:
            row["warnings"].append("one seed: no confidence interval and no significance test; run more seeds")
        elif sd == 0:
            row["warnings"].append(
                f"identical accuracy on every seed: the seed interval has zero width, yet {rs[0].n} evaluation "
                f"items alone leave [{row['eval_ci_low']:.1%}, {row['eval_ci_high']:.1%}] (Wilson)")
        for check in row["power"]:
            if check.get("warning"):
                row["warnings"].append(check["warning"])
        rows.append(row)
    return rows


def _predicted(rs: list[RunRecord], base: float | None) -> dict | None:
    exp = [r.expected_pgf for r in rs if r.expected_pgf is not None]
    if not exp:
        return None
    pgf = float(np.mean(exp))  # random draws new sources per seed, so its prediction is the mean
    out = {"pgf": pgf, "accuracy": None, "gain": None}
    if base is not None:
        out["accuracy"] = base + pgf * (1 - base)
        out["gain"] = out["accuracy"] - base
    return out


def _pgf_fields(values, base, level, predicted) -> dict:
    out = {"predicted_pgf": None, "predicted_accuracy": None, "predicted_gain": None, "observed_pgf": None}
    if predicted:
        out.update(predicted_pgf=predicted["pgf"], predicted_accuracy=predicted["accuracy"],
                   predicted_gain=predicted["gain"])
    if base is not None and base < 1:
        pgf = [(v - base) / (1 - base) for v in values]
        m, lo, hi = t_interval(pgf, level)
        out["observed_pgf"] = {"mean": m, "ci_low": lo, "ci_high": hi}
    return out


def _power(strategy: str, row: dict, predicted: dict, acc: dict, base: float | None) -> list[dict]:
    """Can this many seeds detect the predicted gain over zero-shot, and the predicted
    difference to each reference? One entry per comparison that has a prediction."""
    checks = []
    n = row["n_seeds"]
    pred = predicted.get(strategy)
    if strategy == "zero_shot" or pred is None:
        return checks
    if pred["gain"] is not None:
        checks.append(_check("zero_shot", pred["gain"], row["sd"], n))
    for ref in REFERENCES if strategy not in REFERENCES else ():  # baselines are not checked against each other
        ref_pred = predicted.get(ref)
        comp = row.get(f"vs_{ref}")
        if ref == strategy or ref_pred is None or comp is None or pred["accuracy"] is None:
            continue
        diff = pred["accuracy"] - ref_pred["accuracy"]
        checks.append(_check(ref, diff, comp["sd"], comp["n_pairs"]))
    return checks


def _check(against: str, predicted_diff: float, sd: float | None, n: int) -> dict:
    mdd = min_detectable_difference(sd, n) if sd else None
    out = {"against": against, "predicted_difference": predicted_diff, "n": n, "sd": sd,
           "min_detectable_difference": mdd, "seeds_needed": None, "warning": None}
    what = "gain over zero-shot" if against == "zero_shot" else f"difference to {against}"
    if sd == 0:
        out["warning"] = (f"power unknown for the predicted {what} ({predicted_diff:+.3f}): no spread over "
                          f"{plural(n, 'seed')}, so no variance estimate")
    elif mdd is None:
        out["warning"] = (f"power unknown for the predicted {what} ({predicted_diff:+.3f}): "
                          f"{plural(n, 'seed')} give{'s' if n == 1 else ''} no variance estimate")
    elif abs(predicted_diff) < mdd:
        need = seeds_needed(sd, predicted_diff)
        out["seeds_needed"] = need
        more = f"about {need} seeds would detect it" if need else "no practical number of seeds would detect it"
        spread = "sd over seeds" if against == "zero_shot" else "sd of the paired differences"
        out["warning"] = (f"underpowered: the predicted {what} is {predicted_diff:+.3f} but {plural(n, 'seed')} ({spread} "
                          f"{sd:.3f}) detect only differences ≥ {mdd:.3f} at 80% power; {more}")
    return out


# ------------------------------------------------------------------ plot
def y_range(rows: list[dict]) -> tuple[float, float]:
    """The accuracy range the plot shows: every mean, interval, seed and prediction with a margin,
    at least 10 points wide, inside [0, 1]. Differences of a few points stay visible (an axis from
    0 flattens 68-81 % into the same bar height)."""
    values = []
    for r in rows:
        values += [r["mean"], *r["accuracies"].values()]
        values += [v for v in (r["ci_low"], r["ci_high"], r.get("predicted_accuracy")) if v is not None]
    lo, hi = min(values), max(values)
    pad = max(0.15 * (hi - lo), 0.02)
    lo, hi = lo - pad, hi + pad
    if hi - lo < 0.10:
        mid = (lo + hi) / 2
        lo, hi = mid - 0.05, mid + 0.05
    if lo < 0:
        lo, hi = 0.0, min(1.0, hi - lo)
    if hi > 1:
        lo, hi = max(0.0, lo - (hi - 1)), 1.0
    return lo, hi


def plot_figure(rows: list[dict], title: str | None = None):
    """The comparison as a matplotlib figure: per strategy the mean over seeds (a dot, its value
    printed) with its CI, the seeds as small dots beside it, zero-shot as a dashed line and the
    plan's predicted accuracy as an open diamond. The y-axis is zoomed to the data (no bars: a
    bar on a cut axis would misstate ratios) and the legend sits outside the axes."""
    plt = pyplot()
    from matplotlib.ticker import PercentFormatter

    fig, ax = plt.subplots(figsize=(1.1 * len(rows) + 4.2, 4.2), dpi=120)
    x = np.arange(len(rows))
    means = np.array([r["mean"] for r in rows])
    err = np.array([[r["mean"] - r["ci_low"], r["ci_high"] - r["mean"]] if r["ci_low"] is not None else [0, 0]
                    for r in rows]).T
    zs = [r for r in rows if r["strategy"].endswith("zero_shot")]
    if zs:
        ax.axhline(zs[0]["mean"], color="grey", linestyle="--", linewidth=1, label="zero-shot", zorder=1)
    ax.errorbar(x, means, yerr=err, fmt="o", color="#3182bd", ecolor="#08306b", markersize=8, capsize=6,
                elinewidth=1.5, zorder=3, label=f"mean over seeds, {rows[0]['level']:.0%} CI")
    seeds_labelled = False
    for i, r in enumerate(rows):
        vals = list(r["accuracies"].values())
        ax.scatter(np.full(len(vals), i + 0.22), vals, color="black", s=12, zorder=3,
                   label=None if seeds_labelled else "one seed")
        seeds_labelled = True
        ax.annotate(f"{r['mean']:.1%}", (i, r["mean"]), xytext=(-10, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=8, color="#08306b")
        if r.get("predicted_accuracy") is not None:
            ax.scatter([i], [r["predicted_accuracy"]], marker="D", facecolors="none", edgecolors="#e6550d", s=50,
                       zorder=4, label="predicted (plan)" if "predicted (plan)" not in
                       ax.get_legend_handles_labels()[1] else None)
    ax.set_xticks(x, [r["strategy"] for r in rows], rotation=20)
    ax.set_xlim(-0.7, len(rows) - 0.3)
    ax.set_ylim(*y_range(rows))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    ax.grid(axis="y", alpha=0.3)
    ax.set_ylabel("accuracy (axis zoomed to the data)")
    ax.set_title(title or f"{rows[0]['target']}: accuracy by strategy ({rows[0]['n_eval']} evaluation items)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def plot(rows: list[dict], path: str | Path, title: str | None = None) -> Path:
    """:func:`plot_figure`, written atomically as PNG."""
    return atomic_write(path, png_bytes(plot_figure(rows, title)))
