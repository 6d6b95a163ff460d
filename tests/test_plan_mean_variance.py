"""The default objective (mean-variance over shares), empirical-Bayes cell variances, "nothing
helps" as an answer, and the leave-one-seed-out value the default κ was chosen by."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pgfselect import MixturePlanner, PGFMatrix, load_matrix
from pgfselect.plan import read_plan, write_plan
from pgfselect.plan.optimizer import greedy_shares, solve_mean_variance
from pgfselect.plan.validation import drop_seed, held_out_value, leave_one_seed_out
from pgfselect.plan.variance import cell_variance

from clirun import run_cli as run


def _brute_force(mu, sigma, caps_share, kappa, steps=200):
    """Best point of a fine grid over the 2- or 3-source simplex (within caps)."""
    best, arg = -np.inf, None
    grid = np.linspace(0, 1, steps + 1)
    for a in grid:
        rest = [1 - a] if len(mu) == 2 else [b for b in grid if a + b <= 1 + 1e-12]
        for b in rest:
            w = np.array([a, b] if len(mu) == 2 else [a, b, 1 - a - b])
            if (w > caps_share + 1e-9).any() or (w < -1e-12).any():
                continue
            v = mu @ w - kappa * np.linalg.norm(sigma * w)
            if v > best:
                best, arg = v, w
    return best, arg


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 3), st.integers(0, 10_000), st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_mean_variance_matches_brute_force(n, seed, kappa):
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.01, 0.5, n)
    sigma = rng.uniform(0.0, 0.3, n)
    caps = np.where(rng.random(n) < 0.3, rng.uniform(0.4, 1.0, n) * 1000, np.inf)
    if caps.sum() < 1000:
        caps[0] = np.inf
    w, solver, status = solve_mean_variance(mu, sigma, 1000, caps, kappa)
    assert "optimal" in status and w.sum() == pytest.approx(1.0, abs=1e-6)
    assert (w <= caps / 1000 + 1e-6).all() and (w >= -1e-9).all()
    value = mu @ w - kappa * np.linalg.norm(sigma * w)
    best, _ = _brute_force(mu, sigma, caps / 1000, kappa)
    assert value >= best - 1e-3  # never worse than the grid's best point


def test_kappa_zero_is_the_best_source_and_kappa_spreads_only_over_tied_sources():
    mu, sigma = np.array([0.30, 0.29, 0.05]), np.array([0.05, 0.05, 0.05])
    w0, *_ = solve_mean_variance(mu, sigma, 2000, np.full(3, np.inf), 0.0)
    assert w0.round(3).tolist() == [1.0, 0.0, 0.0]
    assert greedy_shares(mu, np.full(3, np.inf)).tolist() == [1.0, 0.0, 0.0]
    w2, *_ = solve_mean_variance(mu, sigma, 2000, np.full(3, np.inf), 2.0)
    assert 0.3 < w2[1] < w2[0] < 0.7 and w2[2] < 0.05  # the tied pair shares; the weak one stays out
    sure = np.array([0.01, 0.2, 0.05])  # the second source is as good and far less certain
    w3, *_ = solve_mean_variance(np.array([0.30, 0.30, 0.05]), sure, 2000, np.full(3, np.inf), 1.0)
    assert w3[0] > 0.9


def test_fixed_shares_enter_the_objective():
    mu, sigma = np.array([0.3, 0.3]), np.array([0.1, 0.1])
    w, *_ = solve_mean_variance(mu, sigma, 1000, np.array([np.inf, np.inf]), 1.0,
                                fixed_shares=np.array([0.5]), fixed_sigma=np.array([0.1]))
    assert w.sum() == pytest.approx(0.5, abs=1e-6)


def test_empirical_bayes_variance_pools_two_seed_cells():
    rng = np.random.default_rng(0)
    vals = rng.normal(0.1, 0.1, (2, 6, 6))
    vals[:, 1, 0] = 0.25  # two seeds that happen to agree exactly
    m = PGFMatrix.from_values(vals, [f"t{i}" for i in range(6)], [f"t{i}" for i in range(6)])
    v = cell_variance(m)
    assert v.method == "empirical_bayes" and v.prior_scale > 0
    raw = m.std() ** 2
    assert raw[1, 0] == 0 and v.seed_var[1, 0] > 0.2 * v.prior_scale  # not trusted raw
    assert np.allclose(v.mean_var, v.seed_var / 2)
    # Posterior variances lie between each raw estimate and the pooled scale.
    lo, hi = np.minimum(raw, v.prior_scale), np.maximum(raw, v.prior_scale)
    assert ((v.seed_var >= lo - 1e-12) & (v.seed_var <= hi + 1e-12)).all()


def test_one_seed_uses_binomial_evaluation_noise_when_counts_exist():
    m = PGFMatrix.from_counts(np.array([[[60, 70], [50, 80]]]), np.array([[50, 50]]), 100, ["a", "b"], ["a", "b"],
                              ["s0"])
    v = cell_variance(m)
    assert v.method == "binomial"
    p, head = 0.6, 0.5
    assert v.seed_var[0, 0] == pytest.approx(p * (1 - p) / 100 / head**2)
    bare = PGFMatrix.from_values(np.ones((1, 2, 2)) * 0.1, ["a", "b"], ["a", "b"])
    assert cell_variance(bare).method == "none"


def _negative_matrix():
    vals = np.full((3, 4, 4), -0.1) + np.random.default_rng(1).normal(0, 0.01, (3, 4, 4))
    for i in range(4):
        vals[:, i, i] = 0.5
    names = ["T", "A", "B", "C"]
    return PGFMatrix.from_values(vals, names, names)


def test_nothing_helps_is_an_answer(tmp_path, capsys):
    m = _negative_matrix()
    p = MixturePlanner("T", 1000).fit(m)
    assert p.status_ == "no_helpful_source" and p.allocation_ == {}
    assert p.recommendation_["strategy"] == "zero_shot" and "strategy direct" in p.recommendation_["reason"]
    assert set(p.excluded_) == {"A", "B", "C", "T"}
    scarce = MixturePlanner("T", 1000, target_examples=200, exclude=["T"]).fit(m)
    assert scarce.recommendation_["strategy"] == "direct"
    path = m.to_csv(tmp_path / "neg.csv") and tmp_path / "neg.csv"
    code, out, err = run(["plan", "-t", "T", "-b", "1k", "-m", str(path), "--format", "json",
                          "--out", str(tmp_path / "p.yaml")], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["status"] == "no_helpful_source" and doc["allocation"] == {}
    assert doc["recommendation"]["strategy"] == "zero_shot" and doc["expected"] is None
    assert read_plan(tmp_path / "p.yaml")["status"] == "no_helpful_source"  # a valid plan file
    code, out, _ = run(["plan", "-t", "T", "-b", "1k", "-m", str(path)], capsys)
    assert code == 0 and "no_helpful_source" in out and "Recommendation: zero_shot" in out


def test_default_plan_concentrates_and_reports_the_blend_with_its_error():
    m7 = load_matrix("published:qwen2.5-vl-7b")
    p = MixturePlanner("jigsaw", "2k").fit(m7)
    assert len(p.allocation_) == 1  # κ = 0: the best source by mean
    best = max((s for s in m7.sources if s != "Jigsaw"), key=lambda s: m7.mean()[m7.sources.index(s),
                                                                                 m7.targets.index("Jigsaw")])
    assert list(p.allocation_) == [best]
    exp = p.expected_["targets"]["Jigsaw"]
    assert exp["pgf"] == pytest.approx(p.pgf_[best]["Jigsaw"]["mean"], abs=1e-4)
    assert exp["range"][0] < exp["pgf"] < exp["range"][1] and exp["std_error"] > 0
    d = p.to_dict()
    assert d["objective"] == "mean_variance" and d["options"]["kappa"] == 0.0
    hedged = MixturePlanner("jigsaw", "2k", kappa=3).fit(m7)
    assert hedged.expected_["std_error"] <= exp["std_error"] + 1e-9


def test_leave_one_seed_out_scores_the_plan_on_the_held_out_seed():
    m7 = load_matrix("published:qwen2.5-vl-7b")
    assert drop_seed(m7, 0).seeds == m7.seeds[1:]
    vals = leave_one_seed_out(m7, "Counting", 1000, strategy="best_single")
    assert len(vals) == 4
    plan = MixturePlanner("Counting", 1000, strategy="best_single").fit(drop_seed(m7, 2)).to_dict()
    (src,) = plan["allocation"]
    assert vals[2] == pytest.approx(m7.values[2, m7.sources.index(src), m7.targets.index("Counting")])
    assert held_out_value({"status": "no_helpful_source", "allocation": {}}, m7, 0, "Counting") == 0.0


def test_saturating_objective_is_kept(tmp_path):
    m7 = load_matrix("published:qwen2.5-vl-7b")
    p = MixturePlanner("jigsaw", "2k", objective="saturating", kappa=1).fit(m7)
    assert len(p.allocation_) > 1 and p.to_dict()["objective"] == "saturating"
    write_plan(p.to_dict(), tmp_path / "s.yaml")
    assert read_plan(tmp_path / "s.yaml")["options"]["objective"] == "saturating"
