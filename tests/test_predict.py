"""`pgfselect.predict`: completion accuracy and calibration on hidden cells of the published
matrices, suggestions, the `predict` / `suggest` commands and their bad-input errors."""

import csv
import io
import json

import numpy as np
import pytest

from pgfselect.errors import PGFSelectError
from pgfselect.matrix import MEASURED, UNMEASURED, PGFMatrix, load
from pgfselect.predict import MatrixCompleter, complete, empty_like, suggest

Z90 = 1.6448536269514722


@pytest.fixture(scope="module")
def mats():
    return {k: load(f"published:qwen2.5-vl-{k}") for k in ("3b", "7b", "32b")}


def hide(m: PGFMatrix, observed: np.ndarray) -> PGFMatrix:
    status = np.where(observed[None], m.status, UNMEASURED)
    return PGFMatrix(m.sources, m.targets, m.seeds, np.where(status == MEASURED, m.values, np.nan), status,
                     model=m.model, name="partial")


def random_observed(n, frac, rng):
    off = np.argwhere(~np.eye(n, dtype=bool))
    obs = np.eye(n, dtype=bool)
    obs[tuple(off[rng.choice(len(off), int(round(frac * len(off))), replace=False)].T)] = True
    return obs


from clirun import run_cli as run


@pytest.fixture
def partial_csv(mats, tmp_path):
    obs = random_observed(13, 0.3, np.random.default_rng(3))
    path = tmp_path / "partial.csv"
    hide(mats["7b"], obs).to_csv(path)
    return path, obs


# ---------------------------------------------------------------------------------- accuracy
@pytest.mark.parametrize("key, mae_max", [("3b", 0.09), ("32b", 0.085)])
def test_hidden_cells_are_predicted_accurately_and_calibrated(mats, key, mae_max):
    """30% of the off-diagonal cells observed (+ diagonal), as in benchmarks/prediction.py. The
    MAE bounds sit between what the model reaches on these masks (≈ 0.077 / 0.064) and what
    predicting 0 gives (≈ 0.098 / 0.21); coverage of the nominal 90% interval ≈ 0.91."""
    m = mats[key]
    truth = m.mean()
    off = ~np.eye(13, dtype=bool)
    rng = np.random.default_rng(11)
    maes, covers, zero_maes = [], [], []
    for _ in range(12):
        obs = random_observed(13, 0.3, rng)
        c = MatrixCompleter().fit(hide(m, obs))
        held = off & ~obs
        err = np.abs(c.mean_ - truth)[held]
        maes.append(err.mean())
        covers.append(np.mean(err <= Z90 * c.std_[held]))
        zero_maes.append(np.abs(truth[held]).mean())
        assert np.array_equal(c.measured_, obs)
        np.testing.assert_allclose(c.mean_[obs], truth[obs])  # measured cells are kept as measured
    assert np.mean(maes) <= mae_max < np.mean(zero_maes)
    assert 0.80 <= np.mean(covers) <= 0.97


def test_priors_improve_the_ranking_within_columns(mats):
    """With 3B and 7B as priors, the 3 sources picked per 32B column overlap the true top 3 more."""
    m = mats["32b"]
    truth = m.mean()
    rng = np.random.default_rng(5)
    overlap = {False: [], True: []}
    for _ in range(8):
        obs = random_observed(13, 0.3, rng)
        partial = hide(m, obs)
        for with_prior in (False, True):
            c = MatrixCompleter().fit(partial, [mats["3b"], mats["7b"]] if with_prior else [])
            for j in range(13):
                src = [i for i in range(13) if i != j]
                best3 = np.sort(truth[src, j])[-3]
                pick = np.argsort(-c.mean_[src, j], kind="stable")[:3]
                overlap[with_prior].append(np.sum(truth[src, j][pick] >= best3))
    assert np.mean(overlap[True]) >= np.mean(overlap[False]) + 0.05
    assert np.mean(overlap[True]) >= 1.3


def test_measured_cells_keep_seed_mean_and_std(mats):
    m = mats["3b"]
    obs = random_observed(13, 0.5, np.random.default_rng(0))
    c = complete(hide(m, obs))
    assert c.sources == m.sources and c.targets == m.targets
    assert c.mean_.shape == c.std_.shape == c.measured_.shape == (13, 13)
    np.testing.assert_allclose(c.std_[obs], m.std()[obs])
    assert (c.std_[~obs] > 0).all() and np.isfinite(c.mean_).all()
    assert set(c.regime_[~obs & ~np.eye(13, dtype=bool)]) <= {"column", "no-column"}


def test_prior_only_completion_is_the_priors_value(mats):
    empty = empty_like(mats["32b"])
    c = MatrixCompleter().fit(empty, [mats["3b"], mats["7b"]])
    off = ~np.eye(13, dtype=bool)
    np.testing.assert_allclose(c.mean_[off], ((mats["3b"].mean() + mats["7b"].mean()) / 2)[off])
    assert not c.measured_.any() and (c.regime_[off] == "prior-only").all()
    assert any("priors' value" in n for n in c.notes_)


def test_prior_tasks_are_matched_by_name_not_position(mats):
    """A prior with the tasks in another order, a subset, and 'suite:' prefixes still lines up."""
    m = mats["7b"]
    order = list(reversed(m.sources))[:8]
    prior = mats["3b"].subset(tasks=order)
    renamed = PGFMatrix(tuple(f"blink:{t}" for t in prior.sources), tuple(f"blink:{t}" for t in prior.targets),
                        prior.seeds, prior.values, prior.status)
    c = MatrixCompleter().fit(empty_like(m), [renamed])
    i, j = m.sources.index("Counting"), m.targets.index("Jigsaw")
    assert c.mean_[i, j] == pytest.approx(mats["3b"].mean()[mats["3b"].sources.index("Counting"),
                                                            mats["3b"].targets.index("Jigsaw")])
    assert any("lacks" in n and "Art_Style" in n for n in c.notes_)


def test_task_similarity_counts_shared_attributes():
    from pgfselect.predict import task_similarity

    tasks = ["Relative_Depth", "synthetic:Relative_Reflectance", "Art_Style", "my:custom"]
    sim = task_similarity(tasks, tasks)
    # RD and RR share level, granularity and image count (3 attributes); RD and AS only 2 choices.
    assert sim[0, 1] - sim[0, 2] == pytest.approx(2)
    assert sim[0, 1] == pytest.approx(sim[1, 0])
    assert sim[3].tolist() == [0, 0, 0, 0] and sim[:, 3].tolist() == [0, 0, 0, 0]
    assert task_similarity(["a", "b"], ["a", "b"]) is None


# ---------------------------------------------------------------------------------- suggest
def test_suggest_screens_better_than_random(mats):
    """Nothing of 32B measured, priors 3B+7B: the best 3 of 5 suggested sources lose much less than
    the best 3 of 5 random ones (exact expectation over all 5-subsets)."""
    import itertools

    m, priors = mats["32b"], [mats["3b"], mats["7b"]]
    truth = m.mean()
    empty = empty_like(m)
    c = MatrixCompleter().fit(empty, priors)
    got, rnd = [], []
    for j, t in enumerate(m.targets):
        s = suggest(empty, t, 5, priors, completer=c)
        assert len(set(s.sources)) == 5 and t not in s.sources and len(s.reasons) == 5
        vals = {src: truth[i, j] for i, src in enumerate(m.sources) if src != t}
        best3 = sum(sorted(vals.values())[-3:])
        got.append(best3 - sum(sorted(vals[x] for x in s.sources)[-3:]))
        v = list(vals.values())
        rnd.append(np.mean([best3 - sum(sorted(v[k] for k in comb)[-3:])
                            for comb in itertools.combinations(range(12), 5)]))
    assert np.mean(got) <= 0.6 * np.mean(rnd)


def test_suggest_skips_measured_sources_and_the_target(mats):
    m = mats["7b"]
    obs = random_observed(13, 0.3, np.random.default_rng(2))
    partial = hide(m, obs)
    j = m.targets.index("Counting")
    s = suggest(partial, "CT", 4, [mats["3b"]])
    measured = {m.sources[i] for i in range(13) if obs[i, j]}
    assert s.target == "Counting" and "Counting" not in s.sources and not measured & set(s.sources)
    assert s.scores == sorted(s.scores, reverse=True)
    n_free = sum(1 for i in range(13) if not obs[i, j] and m.sources[i] != "Counting")
    with pytest.raises(PGFSelectError, match=f"more than the {n_free} source"):
        suggest(partial, "CT", n_free + 1, [mats["3b"]])


# ---------------------------------------------------------------------------------- CLI
def test_cli_predict_csv_json_table_and_out(partial_csv, tmp_path, capsys):
    path, obs = partial_csv
    code, out, _ = run(["predict", str(path), "--format", "csv"], capsys)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["source", "target", "mean", "std", "measured"]
    assert len(rows) == 169 and {r["measured"] for r in rows} == {"0", "1"}
    assert sum(r["measured"] == "1" for r in rows) == int(obs.sum())
    assert {r["source"] for r in rows} == set(load("published:qwen2.5-vl-7b").sources)

    target = tmp_path / "out" / "completed.json"
    code, out, err = run(["predict", str(path), "--prior", "published:qwen2.5-vl-3b", "--format", "json",
                          "--out", str(target)], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["priors"] == ["published:qwen2.5-vl-3b"] and len(doc["cells"]) == 169
    assert json.loads(target.read_text())["n_predicted"] == 169 - int(obs.sum())

    code, out, _ = run(["predict", str(path)], capsys)
    assert code == 0 and "~" in out and "±" in out and "predicted" in out


def test_cli_suggest_json_and_table(capsys):
    code, out, err = run(["suggest", "--target", "jigsaw", "--finetunes", "3", "--prior",
                          "published:qwen2.5-vl-3b", "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["target"] == "Jigsaw" and len(doc["suggest"]) == 3 and len(doc["reasons"]) == 3
    assert "Jigsaw" not in doc["suggest"]
    code, out, _ = run(["suggest", "published:qwen2.5-vl-7b", "-t", "OL", "-n", "1"], capsys)
    assert code == 2  # a complete matrix has nothing left to measure for OL


@pytest.mark.parametrize("args, message", [
    (["predict", "{empty}"], "no measured off-diagonal cell"),
    (["predict", "{partial}", "--prior", "{tiny}"], "shares 2 task(s)"),
    (["suggest", "{partial}", "-t", "counting", "-n", "0"], "--finetunes must be ≥ 1"),
    (["suggest", "{partial}", "-t", "counting", "-n", "-2"], "--finetunes must be ≥ 1"),
    (["suggest", "{partial}", "-t", "counting", "-n", "two"], "not a whole number"),
    (["suggest", "{partial}", "-t", "counting", "-n", "13"], "more than the"),
    (["suggest", "{partial}", "-t", "nosuchtask", "-n", "2"], "absent from the matrix or any prior"),
    (["suggest", "-t", "counting", "-n", "2"], "give a MATRIX"),
    (["predict", "{partial}", "--out", "/proc/nope/x.csv"], "--out"),
])
def test_cli_bad_input_one_line_exit_2(args, message, mats, partial_csv, tmp_path, capsys):
    path, _ = partial_csv
    empty = tmp_path / "diag_only.csv"
    hide(mats["7b"], np.eye(13, dtype=bool)).to_csv(empty)
    tiny = tmp_path / "tiny.csv"
    mats["3b"].subset(tasks=["Counting", "Jigsaw"]).to_csv(tiny)
    args = [a.format(empty=empty, partial=path, tiny=tiny) for a in args]
    code, out, err = run(args, capsys)
    assert code == 2 and message in err
    assert err.startswith("error: ") and err.count("\n") == 1 and out == ""


def test_authors_format_with_absent_rows_gets_unmeasured_sources(tmp_path, capsys):
    """A 4-column file holding only the sources finetuned so far: the other tasks become
    unmeasured sources, predicted and suggestable."""
    from importlib import resources

    published = resources.files("pgfselect").joinpath("data/published/pgf_qwen2.5-vl-3B-instruct.csv")
    lines = published.read_text().splitlines()
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1] in ("Counting", "Jigsaw", "Art_Style")]
    path = tmp_path / "three_rows.csv"
    path.write_text("\n".join(keep) + "\n")
    code, out, err = run(["predict", str(path), "--format", "csv"], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 169 and sum(r["measured"] == "1" for r in rows) == 39
    code, out, err = run(["suggest", str(path), "-t", "RD", "-n", "3", "--format", "json"], capsys)
    assert code == 0, err
    assert not {"Counting", "Jigsaw", "Art_Style", "Relative_Depth"} & set(json.loads(out)["suggest"])


def test_unmatched_prior_names_are_reported(mats, partial_csv, tmp_path, capsys):
    path, _ = partial_csv
    prior = tmp_path / "prior5.csv"
    mats["3b"].subset(tasks=list(mats["3b"].sources[:5])).to_csv(prior)
    code, _, err = run(["predict", str(path), "--prior", str(prior), "--format", "csv"], capsys)
    assert code == 0 and "lacks" in err and "Object_Localization" in err


def test_cli_analyze_complete_marks_predicted_cells(partial_csv, tmp_path, capsys):
    path, obs = partial_csv
    code, _, err = run(["analyze", "--matrix", str(path), "--out", str(tmp_path / "a")], capsys)
    assert code == 2 and "unmeasured" in err
    code, out, err = run(["analyze", "--matrix", str(path), "--complete", "--prior", "published:qwen2.5-vl-3b",
                          "--out", str(tmp_path / "b"), "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["predicted_cells"]) == int((~obs).sum()) and "cell(s) predicted" in err
