"""pgfselect.compare: statistics, power, loading run folders, the CLI table/JSON and the plot.

The run folders here are hand-written inputs for the statistics (accuracies chosen to make the
expected numbers easy to check), not results of any training.
"""

import json
import math

import numpy as np
import pytest
from scipy import stats

from pgfselect.cli import main
from pgfselect.compare import (compare, load_runs, min_detectable_difference, paired_difference, seeds_needed,
                               t_interval)
from pgfselect.errors import PGFSelectError


def write_run(root, strategy, seed, correct, n=100, recipe_hash="h1", expected=None, target="synthetic:Counting"):
    folder = root / "runs" / strategy / ("base" if seed is None else f"seed_{seed}")
    folder.mkdir(parents=True)
    doc = {"format": "pgfselect-run", "version": 1, "recipe_hash": recipe_hash, "strategy": strategy, "seed": seed,
           "target": target, "accuracy": correct / n, "correct": correct, "n": n, "expected_pgf": expected,
           "tasks": {target: {"accuracy": correct / n, "correct": correct, "n": n}}}
    (folder / "metrics.json").write_text(json.dumps(doc))
    return folder


@pytest.fixture
def runs_dir(tmp_path):
    r = tmp_path / "R"
    write_run(r, "zero_shot", None, 40)
    for seed, (pgf, direct, rnd) in enumerate([(60, 50, 45), (62, 53, 44), (58, 50, 47), (61, 52, 45)]):
        write_run(r, "pgf", seed, pgf, expected=0.30)
        write_run(r, "direct", seed, direct, expected=0.10)
        write_run(r, "random", seed, rnd, expected=0.05)
    return r


def test_t_interval_matches_scipy():
    x = [0.60, 0.62, 0.58, 0.61]
    m, lo, hi = t_interval(x, 0.95)
    ref = stats.t.interval(0.95, 3, loc=np.mean(x), scale=stats.sem(x))
    assert m == pytest.approx(0.6025)
    assert (lo, hi) == pytest.approx(ref)
    assert t_interval([0.5]) == (0.5, None, None)


def test_paired_difference_against_scipy():
    a = {0: 0.60, 1: 0.62, 2: 0.58, 3: 0.61, 9: 0.9}
    b = {0: 0.50, 1: 0.53, 2: 0.50, 3: 0.52}
    d = paired_difference(a, b)
    diffs = np.array([0.10, 0.09, 0.08, 0.09])
    assert d["n_pairs"] == 4  # seed 9 has no partner
    assert d["mean_diff"] == pytest.approx(diffs.mean())
    assert d["p_t"] == pytest.approx(stats.ttest_rel([0.60, 0.62, 0.58, 0.61], [0.50, 0.53, 0.50, 0.52]).pvalue)
    assert d["p_wilcoxon"] == pytest.approx(0.125)  # exact test, 4 positive differences: 2/2^4
    assert d["ci_low"] < d["mean_diff"] < d["ci_high"]
    assert paired_difference({0: 0.5}, {1: 0.5}) is None


def test_min_detectable_difference_has_80_percent_power():
    sd, n = 0.02, 4
    mdd = min_detectable_difference(sd, n)
    crit = stats.t.ppf(0.975, n - 1)
    nc = mdd * math.sqrt(n) / sd
    power = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert power == pytest.approx(0.80, abs=1e-6)
    assert min_detectable_difference(sd, 10) < mdd  # more seeds detect smaller differences
    assert min_detectable_difference(sd, 1) is None
    assert min_detectable_difference(0.0, 3) == 0.0
    need = seeds_needed(sd, 0.02)
    assert min_detectable_difference(sd, need) <= 0.02 < min_detectable_difference(sd, need - 1)


def test_compare_rows(runs_dir):
    rows = compare(load_runs([runs_dir]))
    by = {r["strategy"]: r for r in rows}
    assert [r["strategy"] for r in rows] == ["pgf", "random", "direct", "zero_shot"]
    pgf = by["pgf"]
    assert pgf["n_seeds"] == 4 and pgf["mean"] == pytest.approx(0.6025)
    assert pgf["ci_low"] < pgf["mean"] < pgf["ci_high"]
    assert pgf["gain_vs_zero_shot"] == pytest.approx(0.2025)
    assert pgf["vs_direct"]["mean_diff"] == pytest.approx(0.09)
    assert pgf["vs_direct"]["p_t"] < 0.01
    assert pgf["vs_random"]["mean_diff"] == pytest.approx(0.6025 - 0.4525)
    # predicted accuracy = base + PGF * (1 - base) = 0.4 + 0.3 * 0.6
    assert pgf["predicted_accuracy"] == pytest.approx(0.58)
    assert pgf["observed_pgf"]["mean"] == pytest.approx((0.6025 - 0.4) / 0.6)
    assert by["direct"]["vs_direct"] is None
    zs = by["zero_shot"]
    assert zs["n_seeds"] == 1 and zs["ci_low"] is None and zs["warnings"] == []


def test_power_warning_when_predicted_difference_is_small(tmp_path):
    r = tmp_path / "R"
    write_run(r, "zero_shot", None, 40)
    for seed, (pgf, direct) in enumerate([(50, 40), (42, 50)]):  # large seed noise, 2 seeds
        write_run(r, "pgf", seed, pgf, expected=0.05)
        write_run(r, "direct", seed, direct, expected=0.04)
    by = {row["strategy"]: row for row in compare(load_runs([r]))}
    checks = {c["against"]: c for c in by["pgf"]["power"]}
    assert checks["direct"]["predicted_difference"] == pytest.approx(0.006)
    assert checks["direct"]["min_detectable_difference"] > 0.006
    assert checks["direct"]["seeds_needed"] is None or checks["direct"]["seeds_needed"] > 2
    assert any("underpowered" in w for w in by["pgf"]["warnings"])


def test_several_folders_pool_seeds_or_get_labels(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_run(a, "pgf", 0, 50)
    write_run(b, "pgf", 1, 60)
    rows = compare(load_runs([a, b]))
    assert len(rows) == 1 and rows[0]["n_seeds"] == 2
    write_run(b, "pgf", 0, 55)
    with pytest.raises(PGFSelectError, match="given twice"):
        load_runs([a, b])
    c = tmp_path / "c"
    write_run(c, "pgf", 0, 70, recipe_hash="other")
    labels = {r["strategy"] for r in compare(load_runs([a, c]))}
    assert labels == {"a:pgf", "c:pgf"}


def test_bad_inputs(tmp_path):
    with pytest.raises(PGFSelectError, match="not found"):
        load_runs([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(PGFSelectError, match="no finished runs"):
        load_runs([tmp_path / "empty"])
    f = write_run(tmp_path / "x", "pgf", 0, 50)
    (f / "metrics.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(PGFSelectError, match="not a pgfselect run"):
        load_runs([tmp_path / "x"])


def test_cli_json_and_plot(runs_dir, tmp_path, capsys):
    png = tmp_path / "out.png"
    main(["compare", str(runs_dir), "--format", "json", "--plot", str(png)])
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    for row in rows:
        assert {"strategy", "mean", "ci_low", "ci_high", "n_seeds"} <= set(row)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    main(["compare", str(runs_dir), "--no-plot"])
    out = capsys.readouterr().out
    assert "pgf" in out and "vs direct" in out and "60.2%" in out


def test_cli_bad_input_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(tmp_path / "missing")])
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("error: run folder")


def test_wilson_interval_and_degenerate_runs(tmp_path):
    from pgfselect.compare import wilson_interval

    lo, hi = wilson_interval(0.25, 120)
    assert lo == pytest.approx(0.1806, abs=1e-3) and hi == pytest.approx(0.3350, abs=1e-3)
    r = tmp_path / "R"
    write_run(r, "zero_shot", None, 25)
    for seed in (0, 1):  # every run answers 'A' to every item: accuracy = the share of A
        folder = write_run(r, "pgf", seed, 25, expected=0.2)
        (folder / "predictions.jsonl").write_text("".join(
            json.dumps({"task": "synthetic:Counting", "id": f"i{k}", "answer": k % 4, "pred": 0,
                        "correct": int(k % 4 == 0)}) + "\n" for k in range(100)))
    pgf = next(row for row in compare(load_runs([r])) if row["strategy"] == "pgf")
    assert pgf["sd"] == 0 and pgf["ci_low"] == pgf["ci_high"] == 0.25
    assert pgf["top_answer_share"] == 1.0
    text = " ".join(pgf["warnings"])
    assert "same answer to every target item" in text and "Wilson" in text and "power unknown" in text


def test_compare_on_another_evaluated_task(tmp_path):
    r = tmp_path / "R"
    for strategy, seed, acc in (("zero_shot", None, 0.5), ("pgf", 0, 0.7), ("pgf", 1, 0.8)):
        folder = write_run(r, strategy, seed, 40, expected=0.2)
        doc = json.loads((folder / "metrics.json").read_text())
        doc["tasks"]["synthetic:Jigsaw"] = {"accuracy": acc, "correct": int(acc * 10), "n": 10}
        (folder / "metrics.json").write_text(json.dumps(doc))
    rows = {row["strategy"]: row for row in compare(load_runs([r], task="jigsaw"))}
    assert rows["pgf"]["target"] == "synthetic:Jigsaw" and rows["pgf"]["mean"] == pytest.approx(0.75)
    assert rows["pgf"]["gain_vs_zero_shot"] == pytest.approx(0.25)
    assert rows["pgf"]["predicted_pgf"] is None  # the plan predicts its own target only
    with pytest.raises(PGFSelectError, match="evaluation.tasks: all"):
        load_runs([r], task="Art_Style")


@pytest.fixture
def demo_runs(tmp_path):
    """Accuracies like the demo's (68-81 % on 256 items, benchmarks/RESULTS.md): hand-written."""
    r = tmp_path / "demo"
    write_run(r, "zero_shot", None, 184, n=256)
    per_seed = {"pgf": (199, 193, 205), "best_single": (196, 197, 196), "random": (190, 199, 194),
                "uniform": (186, 200, 193), "direct": (203, 207, 210)}
    for strategy, values in per_seed.items():
        for seed, correct in enumerate(values):
            write_run(r, strategy, seed, correct, n=256, expected=0.34 if strategy == "pgf" else None)
    return r


def test_plot_zooms_to_the_data_and_keeps_the_legend_off_the_points(demo_runs):
    import matplotlib.pyplot as plt

    from pgfselect.compare import plot_figure

    rows = compare(load_runs([demo_runs]))
    fig = plot_figure(rows)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    assert 0.5 < lo < 0.68 and 0.81 < hi <= 1.0  # zoomed, every value inside
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))  # outside the axes: covers no strategy
    labels = ax.get_legend_handles_labels()[1]
    assert "zero-shot" in labels and "predicted (plan)" in labels
    plt.close(fig)
    rows[0]["ci_low"] = 0.0  # a value near 0 keeps the axis from 0
    fig = plot_figure(rows)
    assert fig.axes[0].get_ylim()[0] == 0.0
    plt.close(fig)


def test_runs_from_different_tiny_bases_are_flagged(tmp_path):
    r = tmp_path / "R"
    for seed, base in enumerate(["aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]):
        folder = write_run(r, "pgf", seed, 50 + seed)
        (folder / "config.json").write_text(json.dumps({"base_fingerprint": base}))
    rows = compare(load_runs([r]))
    assert any("2 different tiny bases (aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb" in w for w in rows[0]["warnings"])
    (r / "runs/pgf/seed_2/config.json").write_text(json.dumps({"base_fingerprint": "aaaaaaaaaaaaaaaa"}))
    assert not any("tiny bases" in w for w in compare(load_runs([r]))[0]["warnings"])
