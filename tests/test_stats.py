"""Study statistics: paired item × seed bootstrap, sign test, Holm, margin tests; the compare reading."""

import json

import numpy as np
import pytest

from pgfselect.stats import bootstrap_p_two_sided, holm, margin_tests, paired_bootstrap, sign_test


def test_paired_bootstrap_centres_on_the_mean_difference_and_keeps_the_pairing():
    rng = np.random.default_rng(0)
    a = {t: rng.random((3, 200)) < 0.7 for t in "xyz"}
    b = {t: rng.random((3, 200)) < 0.6 for t in "xyz"}
    boot = paired_bootstrap(a, b, n_boot=400)
    observed = np.mean([a[t].mean() - b[t].mean() for t in a])
    assert boot.mean() == pytest.approx(observed, abs=0.01)
    assert np.quantile(boot, 0.025) > 0  # a clear 10-point gain is detected
    same = paired_bootstrap(a, a, n_boot=50)
    assert np.all(same == 0)  # identical arms: every replicate is exactly 0 (pairing kept)
    assert bootstrap_p_two_sided(boot) < 0.05 and bootstrap_p_two_sided(same) == 1.0
    with pytest.raises(ValueError, match="different shapes"):
        paired_bootstrap({"x": np.zeros((3, 5))}, {"x": np.zeros((2, 5))})


def test_sign_test_holm_and_margins():
    s = sign_test([0.1, 0.2, -0.1, 0.0, 0.3, 0.05, 0.02, 0.01, 0.4, 0.2])
    assert (s["wins"], s["losses"], s["ties"]) == (8, 1, 1) and s["p"] == pytest.approx(0.0390625)
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    tight = margin_tests(np.random.default_rng(1).normal(0.0, 0.005, 2000), 0.02)
    assert tight["p_noninferiority"] < 0.01 and tight["p_equivalence_tost"] < 0.01
    worse = margin_tests(np.random.default_rng(1).normal(-0.03, 0.005, 2000), 0.02)
    assert worse["p_noninferiority"] > 0.9


def _run(folder, strategy, seed, acc, alloc):
    d = folder / "runs" / strategy / ("base" if seed is None else f"seed_{seed}")
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"format": "pgfselect-run", "recipe_hash": "h", "strategy": strategy,
                                                "seed": seed, "target": "synthetic:T", "accuracy": acc,
                                                "correct": int(acc * 256), "n": 256}))
    (d / "config.json").write_text(json.dumps({"allocation": alloc}))


def test_compare_reading_states_separability_and_same_mixtures(tmp_path):
    from pgfselect.compare import compare, load_runs
    from pgfselect.verdict import read_comparison

    folder = tmp_path / "R"
    mix = {"synthetic:T": 50, "synthetic:A": 950}
    for seed, (p, d, r) in enumerate([(0.70, 0.50, 0.66), (0.72, 0.52, 0.71), (0.69, 0.49, 0.62)]):
        _run(folder, "pgf", seed, p, mix)
        _run(folder, "best_single", seed, p - 0.01, mix)
        _run(folder, "direct", seed, d, {"synthetic:T": 50})
        _run(folder, "random", seed, r, {"synthetic:T": 50, "synthetic:B": 950})
    _run(folder, "zero_shot", None, 0.35, {})
    runs = load_runs([folder])
    lines = read_comparison(compare(runs), runs)
    text = "\n".join(lines)
    assert "pgf is better than direct: +20.0%" in text
    assert "pgf is not separable from random with 3 seeds" in text
    assert "pgf is above zero-shot" in text
    assert "pgf chose the same mixture as best_single (T 50, A 950)" in text


def test_compare_reading_says_the_same_runs_once_not_as_a_zero_width_interval(tmp_path):
    """Where best_single planned pgf's mixture its runs are pgf's (reused): one sentence saying so,
    not "not separable with 3 seeds: +0.0% [+0.0%, +0.0%]"."""
    from pgfselect.compare import compare, load_runs
    from pgfselect.verdict import read_comparison

    folder = tmp_path / "R"
    mix = {"synthetic:T": 50, "synthetic:A": 950}
    for seed, (p, d) in enumerate([(0.70, 0.50), (0.72, 0.52), (0.69, 0.49)]):
        _run(folder, "pgf", seed, p, mix)
        _run(folder, "best_single", seed, p, mix)
        _run(folder, "direct", seed, d, {"synthetic:T": 50})
    runs = load_runs([folder])
    text = "\n".join(read_comparison(compare(runs), runs))
    assert "best_single with" not in text and "+0.0% [+0.0%, +0.0%]" not in text
    assert "pgf chose the same mixture as best_single (T 50, A 950)" in text
    assert "pgf is better than direct" in text
