"""Fitting the planner's saturation s from two training sizes."""

import json

import numpy as np
import pytest

from clirun import run_cli
from pgfselect.errors import PGFSelectError
from pgfselect.matrix import PGFMatrix
from pgfselect.plan import MixturePlanner
from pgfselect.plan.saturation import fit_saturation, invert_ratio, saturation_ratio

NAMES = ["A", "B", "C", "D"]


def _pair(s_true, noise=0.0, seed=0, n_small=500, n_large=2000):
    rng = np.random.default_rng(seed)
    large = rng.uniform(0.0, 0.8, (2, 4, 4))
    small = large * saturation_ratio(s_true, n_small, n_large) + rng.normal(0, noise, large.shape)
    prov = lambda n: {"examples_per_task": str(n)}  # noqa: E731
    return (PGFMatrix.from_values(small, NAMES, NAMES, model="m", provenance=prov(n_small)),
            PGFMatrix.from_values(large, NAMES, NAMES, model="m", provenance=prov(n_large)))


@pytest.mark.parametrize("s_true", [50.0, 500.0, 5000.0])
def test_recovers_s_from_exact_curves(s_true):
    fit = fit_saturation(*_pair(s_true))
    assert fit.saturation == pytest.approx(s_true, rel=1e-3)
    assert fit.bound == "" and fit.ci_low <= fit.saturation <= fit.ci_high
    assert (fit.n_small, fit.n_large) == (500, 2000)


def test_noisy_cells_give_an_interval_around_the_truth():
    fit = fit_saturation(*_pair(800.0, noise=0.03, seed=3))
    assert fit.ci_low < 800.0 < fit.ci_high
    assert fit.ci_high / fit.ci_low > 1.2  # noise shows in the interval


def test_linear_growth_is_a_lower_bound_and_concentrates_the_plan():
    small, large = _pair(1e9)  # PGF grows in proportion to the examples
    fit = fit_saturation(small, large)
    assert fit.bound == "at least" and fit.saturation >= 1e6
    assert "at least" in fit.summary()
    vals = np.array([[0.0, 0.5, 0.4], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    vals[:, 0] = [0.0, 0.5, 0.45]  # target T: A and B almost equally good
    m = PGFMatrix.from_values(vals, ["T", "A", "B"], ["T", "A", "B"])
    spread = MixturePlanner("T", 2000, objective="saturating", kappa=0).fit(m).allocation_
    concentrated = MixturePlanner("T", 2000, objective="saturating", kappa=0,
                                  saturation=fit.saturation).fit(m).allocation_
    assert len(spread) == 2 and concentrated == {"A": 2000}


def test_invert_ratio_round_trip_and_bounds():
    for s in (10.0, 300.0, 40000.0):
        assert invert_ratio(saturation_ratio(s, 100, 1000), 100, 1000)[0] == pytest.approx(s, rel=1e-6)
    assert invert_ratio(1.0, 100, 1000)[1] == "at most"
    assert invert_ratio(0.05, 100, 1000)[1] == "at least"


def test_errors_name_the_problem():
    small, large = _pair(500.0)
    with pytest.raises(PGFSelectError, match="must be below"):
        fit_saturation(large, small)
    with pytest.raises(PGFSelectError, match="records no training size"):
        fit_saturation(PGFMatrix.from_values(small.values, NAMES, NAMES, model="m"), large)
    with pytest.raises(PGFSelectError, match="at least 3 are needed"):
        fit_saturation(small, large, min_pgf=5.0)
    other = PGFMatrix.from_values(small.values, NAMES, NAMES, model="other", provenance=small.provenance)
    with pytest.raises(PGFSelectError, match="different models"):
        fit_saturation(other, large)


def test_cli_fits_from_matrix_files(tmp_path, capsys):
    small, large = _pair(500.0)
    small.to_csv(tmp_path / "small.csv")
    large.to_csv(tmp_path / "large.csv")
    code, out, _ = run_cli(["saturation", str(tmp_path / "small.csv"), str(tmp_path / "large.csv"),
                            "--format", "json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["saturation"] == pytest.approx(500.0, rel=1e-3) and doc["cells"] >= 3
    code, out, _ = run_cli(["saturation", str(tmp_path / "small.csv"), str(tmp_path / "large.csv")], capsys)
    assert code == 0 and "plan with --saturation 500" in out
    code, _, err = run_cli(["saturation", str(tmp_path / "large.csv"), str(tmp_path / "small.csv")], capsys)
    assert code == 2 and "must be below" in err and len(err.strip().splitlines()) == 1
