"""Analysis formulas against hand computations, cliques, personas, significance, bad input, and
the published matrices end to end."""

import csv
import json
import math

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, RootModel

from pgfselect.analysis import (TransferAnalysis, analyses_json, analyze, check_same_tasks, gap_scores,
                                jackknife_interval, leave_one_seed_out, persona_summary, signed_rank_p,
                                t_interval, task_group)
from pgfselect.errors import PGFSelectError
from pgfselect.matrix import UNDEFINED, PGFMatrix

E_HALF = 1 - math.exp(-0.5)  # (1 − e^(−p/N)) with p = 1, N = 2
E_ONE = 1 - math.exp(-1.0)  # p = N = 2

M3 = np.array([[0.9, 0.2, -0.4],
               [0.3, 0.5, 0.1],
               [-0.2, -0.6, 0.7]])


def matrix(values, tasks=None, seeds=None, **kw) -> PGFMatrix:
    values = np.asarray(values, dtype=float)
    if values.ndim == 2:
        values = values[None]
    tasks = tasks or [f"T{k}" for k in range(values.shape[-1])]
    return PGFMatrix.from_values(values, tasks, tasks, seeds=seeds, **kw)


# ------------------------------------------------------------------ formulas by hand
def test_transferability_by_hand_diagonal_excluded():
    pos, neg = gap_scores(M3)
    # Row 0: one positive (0.2), one negative (−0.4), N = 2 other tasks.
    # Row 1: two positives, no negative. Row 2: all negative, p = 0 -> Δ+ = 0.
    assert pos == pytest.approx([0.2 * E_HALF, (0.3 + 0.1) / 2 * E_ONE, 0.0])
    assert neg == pytest.approx([-0.4 * E_HALF, 0.0, (-0.2 - 0.6) / 2 * E_ONE])


def test_malleability_is_the_column_view():
    pos, neg = gap_scores(M3.T)
    assert pos == pytest.approx([0.3 * E_HALF, 0.2 * E_HALF, 0.1 * E_HALF])
    assert neg == pytest.approx([-0.2 * E_HALF, -0.6 * E_HALF, -0.4 * E_HALF])


def test_transferability_with_diagonal_uses_all_tasks():
    pos, neg = gap_scores(M3, include_diagonal=True)
    assert pos[0] == pytest.approx((1 - math.exp(-2 / 3)) * (0.9 + 0.2) / 2)
    assert neg[0] == pytest.approx((1 - math.exp(-1 / 3)) * -0.4)
    assert pos[2] == pytest.approx((1 - math.exp(-1 / 3)) * 0.7)  # the diagonal is its only positive


def test_zero_cells_count_as_neither_sign():
    pos, neg = gap_scores(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert pos.tolist() == [0.0, 0.0, 0.0] and neg.tolist() == [0.0, 0.0, 0.0]
    pos, _ = gap_scores(np.array([[0.0, 0.6, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    assert pos[0] == pytest.approx(0.6 * E_HALF)  # p = 1, not 2


def test_fit_scores_per_seed_and_on_the_seed_mean():
    seeds = np.stack([M3 + 0.05, M3 - 0.05])
    a = analyze(matrix(seeds, seeds=["a", "b"]))
    assert a.n_counted_ == 2
    assert a.mean_ == pytest.approx(M3)
    assert a.scores_["transferability"]["positive"] == pytest.approx(gap_scores(M3)[0])
    assert a.seed_scores_["transferability"]["positive"][0] == pytest.approx(gap_scores(M3 + 0.05)[0])
    doc = a.to_dict()
    assert doc["transferability"]["T1"]["positive"] == pytest.approx(0.2 * E_ONE)
    assert doc["malleability"]["T1"]["negative"] == pytest.approx(-0.6 * E_HALF)
    rec = doc["evidence"]["transferability"]["T0"]["positive"]
    assert rec["per_seed"] == pytest.approx({"a": 0.25 * E_HALF, "b": 0.15 * E_HALF})
    lo, hi = rec["ci"]
    assert lo < rec["value"] < hi


def test_jackknife_of_a_mean_is_the_t_interval():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5))
    lo, hi = jackknife_interval(x.mean(axis=0), leave_one_seed_out(x), 0.9)
    tlo, thi = t_interval(x, 0.9)
    assert lo == pytest.approx(tlo) and hi == pytest.approx(thi)
    # By hand: 2 seeds, values 1 and 3 -> mean 2, sd √2, t(0.975, 1) = 12.706.
    lo, hi = t_interval(np.array([[1.0], [3.0]]))
    assert hi[0] - 2 == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), rel=1e-4)


def test_one_seed_has_no_ci_but_still_analyses():
    a = analyze(matrix(M3))
    doc = a.to_dict()
    assert doc["evidence"]["transferability"]["T0"]["positive"]["ci"] is None
    assert np.isnan(a.cell_ci_[0]).all()
    json.dumps(doc, allow_nan=False)


def test_signed_rank_p_by_hand():
    # All n values positive with distinct sizes: the exact one-sided p is 1 / 2^n.
    assert signed_rank_p(np.array([0.1, 0.2, 0.3, 0.4]), "greater") == pytest.approx(1 / 16)
    assert signed_rank_p(np.array([0.1, 0.2, 0.3, 0.4]), "less") == pytest.approx(1.0)
    assert signed_rank_p(np.zeros(5), "greater") == 1.0  # nothing points either way
    assert signed_rank_p(np.array([0.0, 0.1, 0.2]), "greater") == pytest.approx(1 / 4)  # zeros dropped


# ------------------------------------------------------------------ cliques
CLIQUE4 = np.array([[0.0, 0.3, 0.2, -0.1],
                    [0.4, 0.0, 0.1, -0.2],
                    [0.2, 0.5, 0.0, -0.3],
                    [-0.15, -0.25, -0.4, 0.0]])


def test_cliques_positive_and_tied_negative():
    a = analyze(matrix(CLIQUE4, tasks=["A", "B", "C", "D"]))
    assert a.cliques() == {"positive": [["A", "B", "C"]], "negative": [["A", "D"], ["B", "D"], ["C", "D"]]}
    # One seed, a 3-clique pools 6 directed edges, all positive and distinct: p = 1/2^6.
    assert a.cliques_["positive"][0].p_value == pytest.approx(1 / 64)
    assert a.cliques_["positive"][0].n_values == 6
    assert a.cliques_["negative"][0].p_value == pytest.approx(1 / 4)
    assert a.cliques_["positive"][0].mean_pgf == pytest.approx((0.3 + 0.2 + 0.4 + 0.1 + 0.2 + 0.5) / 6)


def test_clique_edge_needs_the_sign_both_ways():
    m = CLIQUE4.copy()
    m[0, 3] = 0.1  # A helps D, D hurts A: no negative edge A–D
    a = analyze(matrix(m, tasks=["A", "B", "C", "D"]))
    assert a.cliques()["negative"] == [["B", "D"], ["C", "D"]]


def test_ties_in_a_four_cycle_and_no_cliques():
    cycle = -0.1 * np.ones((4, 4))
    for i, j in ((0, 1), (1, 2), (2, 3), (3, 0)):
        cycle[i, j] = cycle[j, i] = 0.2
    a = analyze(matrix(cycle, tasks=list("ABCD")))
    assert a.cliques()["positive"] == [["A", "B"], ["A", "D"], ["B", "C"], ["C", "D"]]
    assert a.cliques()["negative"] == [["A", "C"], ["B", "D"]]
    mixed = np.array([[0, 0.1, 0.1], [-0.1, 0, 0.1], [-0.1, -0.1, 0]])  # every pair disagrees
    assert analyze(matrix(mixed)).cliques() == {"positive": [], "negative": []}


def test_strict_cliques_need_every_seed():
    seeds = np.stack([CLIQUE4, CLIQUE4 * 1.1, CLIQUE4 * 0.9])
    seeds[2, 1, 2] = -0.05  # seed 2 says B hurts C; the mean still says B helps C
    loose = analyze(matrix(seeds, tasks=list("ABCD")))
    strict = analyze(matrix(seeds, tasks=list("ABCD")), strict_cliques=True)
    assert loose.cliques()["positive"] == [["A", "B", "C"]]
    assert loose.cliques_["positive"][0].seeds_agree is False
    assert strict.cliques()["positive"] == [["A", "B"], ["A", "C"]]
    assert strict.cliques_["positive"][0].seeds_agree is True
    assert strict.settings()["strict_cliques"] is True


# ------------------------------------------------------------------ personas
def persona_matrix(n_seeds=4, n=6):
    """T0 helps every target, T1 hurts every target, T2 gains from every source, T3 loses."""
    rng = np.random.default_rng(1)
    values = rng.uniform(-0.01, 0.01, size=(n_seeds, n, n))
    values[:, 0, :] = 0.5 + rng.uniform(0, 0.05, size=(n_seeds, n))
    values[:, 1, :] = -0.5 - rng.uniform(0, 0.05, size=(n_seeds, n))
    values[:, :, 2] = 0.3 + rng.uniform(0, 0.05, size=(n_seeds, n))
    values[:, :, 3] = -0.3 - rng.uniform(0, 0.05, size=(n_seeds, n))
    return matrix(values)


def test_personas_from_planted_roles():
    a = analyze(persona_matrix())
    assert a.personas() == {"donor": ["T0"], "pirate": ["T1"], "sponge": ["T2"], "sieve": ["T3"]}
    donor = {e.task: e for e in a.personas_["donor"]}
    assert donor["T0"].rank == 1 and donor["T0"].p_value < 1e-3 and donor["T0"].assigned
    # T1 gains T2 (a sponge), so its Δ+ ranks 2nd, but its row is negative overall: no donor.
    assert donor["T1"].rank == 2 and donor["T1"].p_value > 0.99 and not donor["T1"].assigned
    pirate = {e.task: e for e in a.personas_["pirate"]}
    assert pirate["T2"].p_value < 0.05 and pirate["T2"].rank > 2 and not pirate["T2"].assigned  # rank cut
    ev = a.to_dict()["evidence"]["personas"]
    assert set(ev) == {"donor", "pirate", "sponge", "sieve"}
    assert set(ev["sieve"]["T3"]) == {"score", "rank", "p_value", "q_value", "assigned"}


def test_a_top_score_without_significance_is_no_persona():
    # T0 has one huge gain and many small losses: the largest Δ+, but its row is not positive overall.
    values = np.tile(np.linspace(-0.05, 0.05, 8)[None, :], (8, 1)) * 0.1
    values[0, :] = -0.02
    values[0, 1] = 2.0
    a = analyze(matrix(values))
    donor = {e.task: e for e in a.personas_["donor"]}
    assert donor["T0"].rank == 1
    assert donor["T0"].p_value > 0.05
    assert "T0" not in a.personas()["donor"]


def test_persona_rank_cut_is_the_top_third():
    a = analyze(persona_matrix(), top_fraction=1 / 3)
    assert a.settings()["persona_top_rank"] == 2  # ceil(6 / 3)
    lenient = analyze(persona_matrix(), alpha=0.5, top_fraction=1.0)
    strict = a.personas()
    # No rank cut and a loose alpha admit more tasks to every persona, never fewer.
    for persona, tasks in strict.items():
        assert set(tasks) <= set(lenient.personas()[persona])
    assert len(lenient.personas()["donor"]) > len(strict["donor"]) and "T0" in lenient.personas()["donor"]


def test_persona_summary_across_matrices():
    a = analyze(persona_matrix())
    b = analyze(persona_matrix(n_seeds=3))
    a.name_, b.name_ = "one", "two"
    summary = persona_summary([a, b])
    assert summary["T0"] == {"donor": ["one", "two"]}
    assert list(summary) == ["T0", "T1", "T2", "T3"]
    doc = analyses_json([a, b])
    assert list(doc) == ["one", "two"] and "transferability" in doc["two"]


# ------------------------------------------------------------------ groups
def test_task_groups_from_the_data_file():
    assert task_group("Relative_Depth", "level") == ("low", True)
    assert task_group("Jigsaw", "granularity") == ("patch", False)
    assert task_group("synthetic:Counting", "level") == ("mid", False)
    assert task_group("synthetic:Art_Style", "granularity") == ("image", True)
    assert task_group("my_task", "level") == ("unknown", False)
    with pytest.raises(PGFSelectError, match="grouping"):
        task_group("Jigsaw", "colour")


def test_group_aggregates_are_plain_means():
    tasks = ["Relative_Depth", "Relative_Reflectance", "Counting", "custom:Thing"]
    a = analyze(matrix(CLIQUE4 + 0.01 * np.arange(16).reshape(4, 4), tasks=tasks))
    low = a.groups_["level"]["low"]
    assert low["tasks"] == ["Relative_Depth", "Relative_Reflectance"] and low["certain"] is True
    expect = a.scores_["transferability"]["positive"][:2].mean()
    assert low["transferability"]["positive"]["value"] == pytest.approx(expect)
    assert a.groups_["level"]["unknown"]["tasks"] == ["custom:Thing"]
    assert a.groups_["level"]["mid"]["certain"] is False


# ------------------------------------------------------------------ bad input
def test_too_few_tasks():
    with pytest.raises(PGFSelectError, match="at least 3"):
        analyze(matrix(M3[:2, :2]))


def test_undefined_cells_are_named():
    status = np.zeros((1, 3, 3), dtype=np.int8)
    status[0, 1, 2] = UNDEFINED
    m = matrix(M3, status=status, name="mine")
    with pytest.raises(PGFSelectError, match=r"mine has 1 undefined .*cell.*seed_0: T1→T2"):
        analyze(m)


def test_unmeasured_cells_and_missing_seed_cells():
    values = np.stack([M3, M3])
    values[1, 0, 2] = np.nan  # seed_1 lacks one cell
    with pytest.raises(PGFSelectError, match=r"1 unmeasured cell.*seed_1: T0→T2.*complete matrix"):
        analyze(matrix(values))


def test_non_square_matrix():
    m = PGFMatrix.from_values(np.ones((1, 3, 3)), ["A", "B", "C"], ["A", "B", "D"])
    with pytest.raises(PGFSelectError, match="not square"):
        analyze(m)


def test_mismatched_task_sets():
    a = analyze(matrix(M3, tasks=["A", "B", "C"], name="x"))
    b = analyze(matrix(M3, tasks=["A", "B", "D"], name="y"))
    with pytest.raises(PGFSelectError, match="different tasks"):
        check_same_tasks([a, b])


def test_fit_values_accepts_a_completed_mean():
    a = TransferAnalysis().fit_values(np.stack([M3, M3]), ["A", "B", "C"], mean=M3 * 2)
    assert a.scores_["transferability"]["positive"][1] == pytest.approx(0.4 * E_ONE)
    with pytest.raises(PGFSelectError, match="NaN"):
        TransferAnalysis().fit_values(np.full((1, 3, 3), np.nan), ["A", "B", "C"])
    with pytest.raises(PGFSelectError, match="alpha"):
        TransferAnalysis(alpha=2).fit_values(M3, ["A", "B", "C"])


# ------------------------------------------------------------------ published, end to end
def _reference_delta_plus(path, source):
    """Δ+ of ``source`` from the authors' CSV with plain Python (an independent implementation)."""
    cells = {}
    with open(path) as fh:
        for row in csv.DictReader(fh):
            cells.setdefault((row["ft_task"], row["task"]), []).append(float(row["perfection_gap_factor"]))
    targets = {t for s, t in cells if s == source and t != source}
    means = [sum(cells[source, t]) / len(cells[source, t]) for t in targets]
    positives = [x for x in means if x > 0]
    return (1 - math.exp(-len(positives) / len(targets))) * sum(positives) / len(positives)


@pytest.mark.parametrize("size", ["3b", "7b", "32b"])
def test_published_end_to_end(size, reference_dir):
    a = analyze(f"published:qwen2.5-vl-{size}")
    doc = a.to_dict()
    json.dumps(doc, allow_nan=False)
    Document.model_validate(doc)
    assert len(doc["transferability"]) == 13
    expect = _reference_delta_plus(reference_dir / f"pgf_qwen2.5-vl-{size.upper()}-instruct.csv", "Counting")
    assert doc["transferability"]["Counting"]["positive"] == pytest.approx(expect)
    assert doc["cliques"]["positive"], "every published matrix has a positive clique"
    for c in doc["evidence"]["cliques"]["positive"]:
        assert 0 < c["p_value"] < 0.05 and c["n_values"] == len(c["tasks"]) * (len(c["tasks"]) - 1) * 4


def test_published_7b_known_results():
    doc = analyze("published:qwen2.5-vl-7b").to_dict()
    assert doc["cliques"]["positive"] == [["Visual_Similarity", "Relative_Depth", "Relative_Reflectance",
                                           "Multi-view_Reasoning"]]
    assert len(doc["cliques"]["negative"]) == 5  # five tied 3-cliques
    assert "Object_Localization" in doc["personas"]["pirate"]


# ------------------------------------------------------------------ the JSON schema
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignPair(_Strict):
    positive: float
    negative: float


class Cliques(_Strict):
    positive: list[list[str]]
    negative: list[list[str]]


class Personas(_Strict):
    donor: list[str]
    pirate: list[str]
    sponge: list[str]
    sieve: list[str]


class Evidence(BaseModel):
    settings: dict
    transferability: dict
    malleability: dict
    groups: dict
    cliques: dict
    personas: dict


class Document(BaseModel):
    transferability: RootModel[dict[str, SignPair]]
    malleability: RootModel[dict[str, SignPair]]
    cliques: Cliques
    personas: Personas
    evidence: Evidence


def test_json_schema_small():
    doc = analyze(persona_matrix()).to_dict()
    Document.model_validate(doc)
    for sign in ("positive", "negative"):
        assert all(0 <= x["positive"] for x in doc["transferability"].values())
        assert all(x["negative"] <= 0 for x in doc["malleability"].values())
        for c in doc["cliques"][sign]:
            assert set(c) <= set(doc["tasks"])
