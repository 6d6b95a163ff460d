"""benchmarks/mixture_proxies.py (issue 23, items 3 and 5): its pure pieces on hand-made numbers
(metrics, the pre-registered Dirichlet mixes, the leave-one-target-out regression, the matrix
check), then the whole pipeline end to end on the tiny smoke settings (tiny:t64, 3 tasks, a few
full-finetune steps; about 1 minute on a busy 2-core machine) and a rerun after the work folder
is lost, which must train nothing: everything is in the committed record.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest



@pytest.fixture(scope="module")
def mp(benchmark_module):
    return benchmark_module("mixture_proxies")


# ------------------------------------------------------------------ pure pieces
def test_prediction_metrics_on_hand_made_numbers(mp):
    pred = [1, 2, 3, 1, 1, 1, 5, 6, 7]
    actual = [1, 2, 4, 3, 2, 1, 2, 2, 2]
    groups = ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    m = mp.prediction_metrics(pred, actual, groups)
    assert m["n"] == 9
    assert m["mae"] == pytest.approx((0 + 0 + 1 + 2 + 1 + 0 + 3 + 4 + 5) / 9)
    assert m["bias"] == pytest.approx(np.mean(np.subtract(pred, actual)))
    assert m["rmse"] == pytest.approx(math.sqrt(np.mean(np.subtract(pred, actual) ** 2)))
    # a: perfect ranking; b: a constant prediction ranks nothing (0); c: nothing to rank (left out)
    assert m["spearman_within_per_target"] == {"a": 1.0, "b": 0.0, "c": None}
    assert m["spearman_within"] == pytest.approx(0.5) and m["spearman_targets"] == 2
    assert -1 <= m["pearson"] <= 1
    assert mp.prediction_metrics([1, 1, 1], [1, 2, 3], ["a"] * 3)["pearson"] is None  # constant: undefined
    assert mp.prediction_metrics([np.nan, 1.0], [0.0, 1.0], ["a", "a"])["n"] == 1  # NaN rows dropped


def test_dirichlet_mixes_are_pre_registered_by_their_seed(mp):
    assert mp.dirichlet_seed("Counting") == int(hashlib.sha256(b"pgfselect/mixture_proxies/Counting").hexdigest()[:8], 16)
    sources = [f"synthetic:S{k}" for k in range(12)]
    a = mp.dirichlet_mixes(sources, 2000, 4, 0.5, seed=7)
    assert a == mp.dirichlet_mixes(sources, 2000, 4, 0.5, seed=7)  # the seed fixes them
    assert a != mp.dirichlet_mixes(sources, 2000, 4, 0.5, seed=8)
    allocs = [m["allocation"] for m in a]
    assert len({json.dumps(x, sort_keys=True) for x in allocs}) == 4
    for alloc in allocs:
        assert sum(alloc.values()) == 2000 and len(alloc) >= 2 and all(n > 0 for n in alloc.values())
        assert list(alloc.values()) == sorted(alloc.values(), reverse=True)
    avoid = [allocs[0]]
    assert allocs[0] not in [m["allocation"] for m in mp.dirichlet_mixes(sources, 2000, 4, 0.5, seed=7, avoid=avoid)]
    two = mp.dirichlet_mixes(sources[:2], 64, 2, 0.5, seed=1)
    assert all(set(m["allocation"]) == set(sources[:2]) for m in two)


def test_regression_leaves_whole_targets_out(mp):
    rng = np.random.default_rng(0)
    sources = ["synthetic:A", "synthetic:B", "synthetic:C"]
    rows = []
    for t in range(5):
        for k in range(4):
            e, mg, bl = rng.normal(size=3)
            alloc = {s: int(n) for s, n in zip(sources, rng.integers(1, 100, 3))}
            rows.append({"target": f"T{t}", "ensemble": e, "merge": mg, "blend": bl, "allocation": alloc,
                         "actual": 0.5 * e + 0.2 * mg})
    pred = mp.regression_predictions(rows, None, sources)
    assert np.abs(pred - [r["actual"] for r in rows]).max() < 0.05  # a linear truth is recovered out of target
    # no leakage: changing the held-out target's outcomes does not change its predictions
    moved = [dict(r, actual=r["actual"] + 10) if r["target"] == "T0" else r for r in rows]
    np.testing.assert_allclose(mp.regression_predictions(moved, None, sources)[:4], pred[:4])
    # fitted on some rows, scored on others (the study mixes from the validation mixes)
    test = [dict(r, target="T9") for r in rows[:3]]
    out = mp.regression_predictions(rows, test, sources, with_shares=False)
    np.testing.assert_allclose(out, [r["actual"] for r in test], atol=0.05)
    metrics = mp.evaluate_set(rows, None, sources)
    assert set(metrics) >= {"blend", "ensemble", "merge", "regression", "regression_without_shares"}
    assert metrics["regression"]["mae"] < metrics["blend"]["mae"]


def test_compare_matrices_finds_a_changed_count(mp):
    from pgfselect.matrix import PGFMatrix

    src = ("synthetic:A", "synthetic:B")
    ft = np.array([[[10.0, 12.0], [11.0, 13.0]]])
    base = np.array([[8.0, 9.0]])
    n = np.array([[20, 20]])
    a = PGFMatrix.from_counts(ft, base, n, src, src, ("seed_0",))
    assert mp.compare_matrices(a, a)["equal"]
    b = PGFMatrix.from_counts(ft + np.array([[[0, 0], [0, 1.0]]]), base, n, src, src, ("seed_0",))
    check = mp.compare_matrices(b, a)
    assert not check["equal"] and check["counts_differ"] == 1 and check["max_abs_pgf_difference"] > 0


# ------------------------------------------------------------------ the smoke pipeline
def fake_study(path: Path, budget: int) -> Path:
    """A selection-study-like result for the smoke's three targets (made-up accuracies): its pgf
    mixes, best_single and uniform are scored by the proxies like the real study's."""
    tasks = ["Counting", "Relative_Depth", "Spatial_Relation"]
    targets, plans = {}, {}
    for k, t in enumerate(tasks):
        others = [x for x in tasks if x != t]
        plans[t] = {others[0]: budget - 16, others[1]: 16}
        targets[t] = {"pgf": {"mean": 0.5 + 0.05 * k, "n_seeds": 2}, "best_single": {"mean": 0.45 + 0.02 * k},
                      "uniform": {"mean": 0.4}, "zero_shot": {"mean": 0.35}}
    path.write_text(json.dumps({"budget": budget, "evaluation": {"split": "test", "n_items": 24},
                                "planner": {"kappa": 1.0}, "targets": targets, "pgf_plans": plans}))
    return path


def finite_or_none(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x))


@pytest.mark.slow
def test_smoke_pipeline_end_to_end_and_a_lost_work_folder(mp, tmp_path, capsys):
    from pgfselect.matrix import load

    work, results = tmp_path / "work", tmp_path / "results"
    study = fake_study(tmp_path / "study.json", mp.SMOKE["budget"])
    common = ["--smoke", "--results", str(results), "--study", f"pgf_fake={study}", "--quiet"]
    mp.main(["--work", str(work), *common])
    out = json.loads((results / "mixture_proxies.json").read_text())
    assert (results / "mixture_proxies.md").read_text().startswith("# Mixture proxies")

    # the must-show keys, with sane values
    for section in ("validation", "study"):
        for pred in ("blend", "ensemble", "merge", "regression"):
            m = out[section][pred]
            assert {"mae", "pearson", "spearman_within"} <= set(m), (section, pred)
            assert m["n"] > 0 and m["mae"] >= 0 and all(finite_or_none(m[k]) for k in ("mae", "pearson", "spearman_within"))
            assert m["spearman_within"] is None or -1 <= m["spearman_within"] <= 1
    assert out["validation"]["targets"] == 3 and len(out["validation"]["rows"]) == 9  # pair + 2 Dirichlet each
    assert out["study"]["targets"] == 3
    assert out["better_proxy"] in ("ensemble", "merge")
    planner = out["planner"]
    assert set(planner["targets"]) == {"Counting", "Relative_Depth", "Spatial_Relation"}
    for row in planner["targets"].values():
        for arm in ("proxy_plan", "best_single"):
            assert {"mean", "ci_low", "ci_high", "per_seed"} <= set(row[arm])
            assert len(row[arm]["per_seed"]) == 2 and 0 <= row[arm]["mean"] <= 1
    assert planner["complete_targets"] and "proxy_plan_vs_best_single" in planner["tests"]
    assert "proxy_plan_vs_old_objective" in planner["tests"]  # the fake study's pgf arm
    assert set(out["goals"]) >= {"proxy_mae_le_0.8_blend", "plan_ge_best_single_plus_0.005", "plan_wins_ge_losses"}
    for tg, reg in out["mixes"]["targets"].items():
        assert reg["dirichlet_seed"] == mp.dirichlet_seed(tg)
        assert all(sum(m["allocation"].values()) == mp.SMOKE["budget"] for m in reg["mixes"].values())

    # a single-source mix: the ensemble and the merge proxy are exactly its cell (the blend)
    rec = json.loads((results / mp.RECORDS).read_text())
    assert rec["base"] is not None
    matrix = load(work / "matrix")
    singles = 0
    for target, scores in rec["scores"].items():
        for key, s in scores.items():
            if len(s["allocation"]) == 1:
                (source,) = s["allocation"]
                cells = matrix.values[:, matrix.sources.index(source), matrix.targets.index(mp.tid(target))]
                assert s["ensemble"]["per_seed"] == s["merge"]["per_seed"] == [float(v) for v in cells]
                assert s["ensemble"]["mean"] == pytest.approx(s["blend"], abs=1e-12)
                singles += 1
    assert singles >= 3  # every target's best_single study mix

    # the work folder is lost: a rerun re-runs only what the committed record lacks (nothing)
    reference = tmp_path / "matrix.csv"
    shutil.copy(work / "matrix" / "matrix.csv", reference)
    shutil.rmtree(work)
    capsys.readouterr()
    mp.main(["--work", str(work), *common, "--reference-matrix", str(reference)])
    said = capsys.readouterr().out
    assert "not measured again" in said
    assert not (work / "mixes").exists() and not (work / "planned").exists() and not (work / "matrix").exists()
    again = json.loads((results / "mixture_proxies.json").read_text())
    for section in ("validation", "study"):
        for pred in ("blend", "ensemble", "merge", "regression"):
            assert again[section][pred]["mae"] == pytest.approx(out[section][pred]["mae"])
    assert again["planner"]["mean_accuracy"] == out["planner"]["mean_accuracy"]


def test_a_planned_arm_on_another_proxy_reuses_best_single_and_zero_shot_of_the_same_base(mp, tmp_path, monkeypatch):
    """--reuse-arms-from: the new record starts with the other record's best_single and zero-shot
    runs and its validation, and the new proxy's plans; a record of another base is refused."""
    from pgfselect.errors import PGFSelectError

    runs = {"0": {"accuracy": 0.5, "items": "10"}}
    other = {"format": mp.RECORDS_FORMAT, "version": 1, "base": "b1", "measure": {"m": 1}, "validation": {"T": {"x": 1}},
             "scores": {}, "planned": {"T": {"plan": {"objective": "proxy:merge", "allocation": {"s:A": 10}},
                                             "arms": {"proxy_plan": runs, "best_single": runs, "zero_shot": {"base": runs["0"]}}}}}
    src = tmp_path / "other.json"
    src.write_text(json.dumps(other))
    for name, fn in {"ensure_base": lambda a: None, "base_fingerprint": lambda a: "b1", "need_folder": lambda a: None,
                     "proxy_plan": lambda a, t, k: {"allocation": {"s:B": 10}, "objective": f"proxy:{k}"}}.items():
        monkeypatch.setattr(mp, name, fn)

    class Args:
        results, reuse_arms_from = tmp_path / "new", str(src)
    mp.seed_record(Args, ["T"], "ensemble")
    new = json.loads((tmp_path / "new" / mp.RECORDS).read_text())
    entry = new["planned"]["T"]
    assert entry["plan"]["objective"] == "proxy:ensemble" and entry["plan"]["allocation"] == {"s:B": 10}
    assert set(entry["arms"]) == {"best_single", "zero_shot"}  # the proxy plan's runs are its own
    assert new["validation"] == other["validation"] and new["base"] == "b1"
    monkeypatch.setattr(mp, "base_fingerprint", lambda a: "b2")
    Args.results = tmp_path / "newer"
    with pytest.raises(PGFSelectError, match="not the cached b2"):
        mp.seed_record(Args, ["T"], "ensemble")
    assert not (tmp_path / "newer").exists()
