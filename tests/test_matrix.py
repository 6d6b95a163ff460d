"""The PGF matrix: formula from counts, published data, statistics, I/O and bad files."""

import numpy as np
import pytest

from pgfselect import PGFMatrix, PGFSelectError, load_matrix
from pgfselect.matrix import MEASURED, UNDEFINED, UNMEASURED, pgf_from_counts
from pgfselect.names import BLINK_TASKS, blink_tasks, resolve

MODELS = {"3b": "pgf_qwen2.5-vl-3B-instruct.csv", "7b": "pgf_qwen2.5-vl-7B-instruct.csv",
          "32b": "pgf_qwen2.5-vl-32B-instruct.csv"}


def recover_counts(values: np.ndarray, m: int):
    """Find zero-shot correct k and finetuned correct k' whose exact fraction gives ``values``."""
    best = None
    for k in range(m):
        kp = values * (m - k) + k
        err = np.abs(kp - np.round(kp)).max()
        if best is None or err < best[0]:
            best = (err, k, np.round(kp))
    assert best[0] < 1e-6, "values are not exact fractions of counts"
    return best[1], best[2]


@pytest.mark.parametrize("model", sorted(MODELS))
def test_pgf_from_counts_reproduces_published_cells(reference_dir, model):
    pub = load_matrix(reference_dir / MODELS[model])
    sizes = {t.name: t.val_items for t in blink_tasks().values()}
    S, I, J = pub.shape
    base = np.zeros((S, J))
    ft = np.zeros((S, I, J))
    for s in range(S):
        for j, tgt in enumerate(pub.targets):
            base[s, j], ft[s, :, j] = recover_counts(pub.values[s, :, j], sizes[tgt])
    n = np.array([[sizes[t] for t in pub.targets]] * S)
    m = PGFMatrix.from_counts(ft, base, n, pub.sources, pub.targets, pub.seeds)
    np.testing.assert_allclose(m.values, pub.values, rtol=0, atol=1e-12)
    # The tidy file keeps the counts and reloads to the same values.
    assert (m.correct_base == base).all()


def test_published_matrices_load_with_seed_means(reference_dir):
    for key, fname in MODELS.items():
        m = load_matrix(f"published:qwen2.5-vl-{key}")
        raw = np.loadtxt(reference_dir / fname, delimiter=",", skiprows=1, usecols=3)
        assert m.shape == (4, 13, 13) and m.is_complete and m.is_square
        assert set(m.tasks) == set(BLINK_TASKS)
        assert m.seeds == ("initial", "seed_0", "seed_1", "seed_2")
        assert np.isclose(np.nansum(m.values), raw.sum())
        # Seed mean of one cell checked by hand from the CSV rows.
        lines = [l.split(",") for l in (reference_dir / fname).read_text().splitlines()[1:]]
        cell = [float(r[3]) for r in lines if r[1] == "Jigsaw" and r[2] == "Counting"]
        assert len(cell) == 4
        assert m.mean()[m.sources.index("Jigsaw"), m.targets.index("Counting")] == pytest.approx(np.mean(cell))
        assert "Sachdeva" in m.provenance["citation"]


def test_std_ci_row_column_subset():
    vals = np.array([[[0.1, 0.3], [0.0, -0.2]], [[0.3, 0.5], [0.2, 0.0]]])
    m = PGFMatrix.from_values(vals, ["A", "B"], ["A", "B"])
    assert m.mean()[0, 0] == pytest.approx(0.2)
    assert m.std()[0, 0] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    lo, hi = m.ci(0.95)
    half = 12.706204736 * np.std([0.1, 0.3], ddof=1) / np.sqrt(2)  # t(0.975, df=1)
    assert lo[0, 0] == pytest.approx(0.2 - half) and hi[0, 0] == pytest.approx(0.2 + half)
    np.testing.assert_allclose(m.row("A"), [0.2, 0.4])
    np.testing.assert_allclose(m.column("b"), [0.4, -0.1])
    sub = m.subset(["B"])
    assert sub.shape == (2, 1, 1) and sub.values[:, 0, 0].tolist() == [-0.2, 0.0]
    one = PGFMatrix.from_values(vals[:1], ["A", "B"], ["A", "B"])
    assert np.isnan(one.std()).all() and np.isnan(one.ci()[0]).all()


def test_zero_headroom_cell_is_undefined_not_zero(tmp_path):
    # target 1: zero-shot got all 10 right in seed 0 -> undefined there, defined in seed 1
    base = np.array([[5, 10], [5, 9]])
    ft = np.array([[[7, 10], [4, 8]], [[6, 10], [5, 9]]])
    m = PGFMatrix.from_counts(ft, base, 10, ["a", "b"], ["a", "b"], ["s0", "s1"])
    assert m.status[0, 0, 1] == UNDEFINED and np.isnan(m.values[0, 0, 1])
    assert m.status[1, 0, 1] == MEASURED and m.values[1, 0, 1] == pytest.approx(1.0)
    assert m.mean()[0, 1] == pytest.approx(1.0)  # only the defined seed counts
    m.to_csv(tmp_path / "m.csv")
    back = load_matrix(tmp_path / "m.csv")
    assert (back.status == m.status).all()
    np.testing.assert_array_equal(np.isnan(back.values), np.isnan(m.values))
    everything_known = PGFMatrix.from_counts(ft, np.array([[5, 10], [5, 10]]), 10, ["a", "b"], ["a", "b"], ["s0", "s1"])
    assert everything_known.undefined[:, 1].all()


def test_pgf_formula_with_ceiling():
    pgf, defined = pgf_from_counts(correct_ft=70, correct_base=50, n_eval=100, ceiling=0.9)
    assert defined and pgf == pytest.approx((0.7 - 0.5) / (0.9 - 0.5))
    pgf, defined = pgf_from_counts(correct_ft=30, correct_base=90, n_eval=100, ceiling=0.9)
    assert not defined and np.isnan(pgf)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_tidy_round_trip_keeps_counts_and_provenance(tmp_path, fmt):
    base = np.array([[3, 4]])
    ft = np.array([[[5, 4], [2, 6]]])
    m = PGFMatrix.from_counts(ft, base, np.array([[8, 8]]), ["x", "y"], ["x", "y"], ["s0"], model="tiny",
                              provenance={"config_hash": "abc", "dataset_revision": "r1"})
    path = tmp_path / f"m.{fmt}"
    (m.to_csv if fmt == "csv" else m.to_json)(path)
    back = load_matrix(path)
    np.testing.assert_allclose(back.values, m.values)
    assert back.model == "tiny" and back.provenance["config_hash"] == "abc"
    assert (back.correct_ft == ft).all() and (back.n_eval == 8).all()


def test_partial_file_marks_absent_cells_unmeasured(tmp_path, reference_dir):
    lines = (reference_dir / MODELS["7b"]).read_text().splitlines()
    kept = [lines[0]] + [l for l in lines[1:] if not (",Jigsaw,Counting," in l)]
    (tmp_path / "p.csv").write_text("\n".join(kept) + "\n")
    m = load_matrix(tmp_path / "p.csv")
    assert not m.is_complete
    i, j = m.sources.index("Jigsaw"), m.targets.index("Counting")
    assert m.unmeasured[i, j] and (m.status[:, i, j] == UNMEASURED).all()
    assert np.isnan(m.mean()[i, j])


@pytest.mark.parametrize("content, message", [
    ("", "empty file"),
    ("a,b,c\n1,2,3\n", "header lacks"),
    ("seed,ft_task,task,perfection_gap_factor\ns0,A,B,0.1\ns0,A,B\n", "line 3: expected 4 fields"),
    ("seed,ft_task,task,perfection_gap_factor\ns0,A,B,0.1\ns0,A,A,nan\n", "line 3: pgf 'nan' is not a finite"),
    ("seed,ft_task,task,perfection_gap_factor\ns0,A,B,abc\n", "line 2: pgf 'abc' is not a number"),
    ("seed,ft_task,task,perfection_gap_factor\ns0,A,B,0.1\ns0,A,B,0.2\n", "line 3: duplicate cell"),
    ("seed,ft_task,task,perfection_gap_factor\ns0,,B,0.1\n", "line 2: empty source"),
])
def test_bad_matrix_files_name_the_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(PGFSelectError, match=message):
        load_matrix(path)


def test_unknown_matrix_specs():
    with pytest.raises(PGFSelectError, match="did you mean 'published:qwen2.5-vl-7b'"):
        load_matrix("published:qwen2.5-vl-7")
    with pytest.raises(PGFSelectError, match="not found"):
        load_matrix("/nonexistent/m.csv")


def test_task_name_aliases():
    valid = list(BLINK_TASKS)
    for spelling in ("counting", "Counting", "CT", "ct", "COUNTING"):
        assert resolve(spelling, valid) == "Counting"
    assert resolve("multi-view reasoning", valid) == "Multi-view_Reasoning"
    assert resolve("MV", valid) == "Multi-view_Reasoning"
    assert resolve("counting", ["synthetic:Counting", "synthetic:Jigsaw"]) == "synthetic:Counting"
    with pytest.raises(PGFSelectError, match="did you mean 'Counting'"):
        resolve("countng", valid)
    with pytest.raises(PGFSelectError, match="ambiguous"):
        resolve("counting", ["blink:Counting", "synthetic:Counting"])


def test_reference_copy_is_identical():
    from conftest import PACKAGE_COPY, REFERENCE

    if not REFERENCE.is_dir():
        pytest.skip(f"no ../shared/reference here ({REFERENCE}): a user's clone; the package copy is used")
    for path in sorted(PACKAGE_COPY.glob("*.csv")):
        assert path.read_bytes() == (REFERENCE / path.name).read_bytes(), path.name


def test_base_fingerprint_provenance_round_trips(tmp_path):
    m = PGFMatrix.from_values(np.zeros((1, 2, 2)), ["a", "b"], ["a", "b"], model="tiny:t64")
    m.provenance["base_fingerprint"] = "0123456789abcdef"
    m.to_csv(tmp_path / "m.csv")
    assert load_matrix(tmp_path / "m.csv").provenance["base_fingerprint"] == "0123456789abcdef"
    m.provenance.pop("base_fingerprint")
    m.to_csv(tmp_path / "n.csv")
    assert "base_fingerprint" not in load_matrix(tmp_path / "n.csv").provenance
