"""benchmarks/scarce_target.py (issue 16): the combine stage, which takes each n from the record of
one tiny base (pre-registration amendment 1), on records made by the script's own summarise from
hand-made per-item results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

TARGETS = ["A", "B", "C"]


@pytest.fixture(scope="module")
def st(benchmark_module):
    return benchmark_module("scarce_target")


def record(st, sizes, accuracy, base, complete=TARGETS):
    """A report record whose arms score ``accuracy[arm]`` (+ a per-target offset) on 40 items."""
    rng = np.random.default_rng(0)
    data = {}
    for k, target in enumerate(TARGETS):
        for n in map(str, sizes):
            arms = {"zero_shot": {"accuracy": 0.25}}
            for arm in st.ARMS:
                if target not in complete and arm == "direct":
                    continue
                p = accuracy[n][arm] + 0.02 * k
                runs = {}
                for seed in (0, 1, 2):
                    bits = (rng.random(40) < p).astype(int)
                    runs[seed] = {"accuracy": float(bits.mean()), "items": {f"{i:05d}": int(b) for i, b in enumerate(bits)},
                                  "allocation": {f"s:{target}": int(n), "s:X": 100 - int(n)}}
                arms[arm] = runs
            data.setdefault(target, {})[n] = arms
    out = st.summarise(data, [0, 1, 2], sizes)
    out.update(budget=100, matrix=f"m-{base}.csv", evaluation={"split": "test", "n_items": 40}, base=base)
    return json.loads(json.dumps(out))  # as read back from disk: string keys


ARMS_50 = {"direct": 0.5, "pgf+target": 0.7, "best_single+target": 0.7, "random+target": 0.4, "shuffled+target": 0.35}
ARMS_200 = {"direct": 0.9, "pgf+target": 0.6, "best_single+target": 0.6, "random+target": 0.5, "shuffled+target": 0.45}


def test_combine_takes_each_n_from_its_base_and_holm_corrects_the_four_primary_tests(st):
    old = record(st, [50, 200], {"50": ARMS_50, "200": ARMS_200}, "old", )
    new = record(st, [200], {"200": ARMS_200}, "new")
    out = st.combine({"50": old, "200": new}, {"50": "r/old", "200": "r/new"}, TARGETS)
    assert out["final"] and out["target_examples"] == [50, 200]
    assert out["parts"]["50"]["base"] == "old" and out["parts"]["200"]["base"] == "new"
    assert out["targets"]["A"]["50"] == old["targets"]["A"]["50"]
    assert out["targets"]["A"]["200"] == new["targets"]["A"]["200"]  # not the old base's n = 200
    assert out["other_base_runs"]["200"]["base"] == "old"  # reported beside, in no test
    p = {k: v["p"] for k, v in out["primary_holm"].items()}
    assert set(p) == {"a_n50", "b_n50", "a_n200", "b_n200"}
    assert p["a_n200"] == new["tests"]["200"]["pgf_vs_direct"]["p_bootstrap"]
    assert all(out["primary_holm"][k]["p_holm"] >= p[k] for k in p)
    assert max(v["p_holm"] for v in out["primary_holm"].values()) <= 1
    g = out["goals"]
    assert g["pgf_beats_direct_n50"]["wins"] == 3 and not g["pgf_beats_direct_n50"]["met"]  # 3 of 3 < 10
    assert g["pgf_beats_direct_n200"]["wins"] == 0
    assert g["control_shuffled_beats_random_n50"]["met"]
    text = st.combine_markdown(out)
    assert "base new" in text and "Other-base runs" in text and "Not final" not in text


def test_combine_is_not_final_while_a_target_is_missing_and_refuses_two_studies(st):
    old = record(st, [50], {"50": ARMS_50}, "old")
    new = record(st, [200], {"200": ARMS_200}, "new", complete=["A", "B"])
    out = st.combine({"50": old, "200": new}, {"50": "r/old", "200": "r/new"}, TARGETS)
    assert not out["final"] and out["complete_targets"]["200"] == ["A", "B"]
    assert "Not final" in st.combine_markdown(out)
    other = dict(new, budget=999)
    with pytest.raises(ValueError, match="budget"):
        st.combine({"50": old, "200": other}, {"50": "r/old", "200": "r/new"}, TARGETS)


def test_combine_stage_rejects_a_bad_parts_entry_with_one_line(st, tmp_path, capsys):
    class Args:
        parts, results = "fifty=somewhere", tmp_path
    with pytest.raises(SystemExit) as e:
        st.combine_stage(Args, TARGETS)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "fifty=somewhere" in err
    assert not (tmp_path / "scarce_target.json").exists()


def _seed_runs(accuracies):
    return {seed: {"accuracy": a, "items": {"00000": 1}, "allocation": {"s:A": 50, "s:X": 50}}
            for seed, a in accuracies.items()}


def test_where_best_single_plans_pgfs_mixture_its_arm_is_pgfs_runs_even_after_a_partial_record(st, monkeypatch, tmp_path):
    """Pre-registered: where best_single plans the pgf mixture the two arms are one set of runs. A
    record written while only pgf's seed 0 was done lists best_single with that seed; resuming must
    not train best_single's other seeds on their own (other source samples of the same mixture),
    and collecting must not mix such runs, seed by seed, into the arm."""
    import pgfselect.recipes.runner as runner

    partial = {"A": {"50": {"pgf+target": _seed_runs({0: 0.7}), "best_single+target": _seed_runs({0: 0.7})}}}
    trained = []

    class Runner:
        def __init__(self, loaded, folder, **kw):
            trained.append((Path(folder).name, tuple(kw["only"])))

        def run(self):
            return {}

    for name, fn in {"ensure_base": lambda *a: None, "record_folder": lambda a: a.results,
                     "committed": lambda a: partial, "same_as_pgf": lambda doc, a: True,
                     "shuffled_matrix": lambda m, t, out: m, "study_recipe": lambda *a: {"seeds": [0, 1, 2]}}.items():
        monkeypatch.setattr(st, name, fn)
    monkeypatch.setattr(runner, "RecipeRunner", Runner)
    import pgfselect.recipes.schema as schema
    monkeypatch.setattr(schema, "recipe_from_dict", lambda doc, **kw: doc)

    class Args:
        work, results, matrix, seeds, quiet = tmp_path, tmp_path, tmp_path / "m.csv", [0, 1, 2], True
    st.run_stage(Args, ["A"], [50])
    assert [sub for sub, _ in trained] == ["main", "shuffled"]  # no best_single folder

    # a folder where an earlier resume did train best_single's seeds 1 and 2 on their own
    own = {"pgf": _seed_runs({0: 0.7, 1: 0.6, 2: 0.5}), "best_single": _seed_runs({1: 0.9, 2: 0.9})}
    monkeypatch.setattr(st, "_runs", lambda folder, strategy: own.get(strategy, {}) if folder.name in ("main", "best_single") and
                        (strategy == "best_single") == (folder.name == "best_single") else {})
    arms = st.collect(Args, ["A"], [50])["A"]["50"]
    assert arms["best_single+target"] == arms["pgf+target"]
    assert {s: r["accuracy"] for s, r in arms["best_single+target"].items()} == {0: 0.7, 1: 0.6, 2: 0.5}
