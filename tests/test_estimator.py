"""The estimator contract of MixturePlanner, MatrixCompleter and TransferAnalysis: get_params,
a readable repr, declared parameter constraints with errors naming the parameter, and a clear
error when a fitted-only method is called before fit."""

import pytest

from pgfselect import MatrixCompleter, MixturePlanner, TransferAnalysis, load_matrix
from pgfselect.analysis import PERSONAS
from pgfselect.errors import PGFSelectError
from pgfselect.estimator import NotFittedError


@pytest.fixture(scope="module")
def m7():
    return load_matrix("published:qwen2.5-vl-7b")


def test_get_params_round_trips_and_repr_shows_what_differs_from_the_defaults():
    p = MixturePlanner("counting", "2k", strategy="top_k", k=2)
    params = p.get_params()
    assert params["target"] == "counting" and params["budget"] == "2k" and params["k"] == 2
    assert MixturePlanner(**params).get_params() == params
    assert repr(p) == "MixturePlanner(target='counting', budget='2k', strategy='top_k', k=2)"
    assert repr(MatrixCompleter()) == "MatrixCompleter()"
    assert repr(TransferAnalysis(alpha=0.1)) == "TransferAnalysis(alpha=0.1)"
    assert set(TransferAnalysis().get_params()) == {"include_diagonal", "strict_cliques", "alpha", "ci_level",
                                                    "top_fraction"}


@pytest.mark.parametrize("estimator, method", [
    (MixturePlanner("counting", "2k"), "to_dict"),
    (MatrixCompleter(), "to_dict"),
    (MatrixCompleter(), "rows"),
    (TransferAnalysis(), "to_dict"),
    (TransferAnalysis(), "personas"),
])
def test_unfitted_use_is_a_clear_error(estimator, method):
    with pytest.raises(NotFittedError, match=rf"this {type(estimator).__name__} is not fitted yet: call fit\(\) first"):
        getattr(estimator, method)()


@pytest.mark.parametrize("make, message", [
    (lambda: MixturePlanner("counting", "2k", kappa=-1), "kappa -1 must be a finite number ≥ 0"),
    (lambda: MixturePlanner("counting", "2k", saturation=0), "saturation 0 must be a finite number > 0"),
    (lambda: MixturePlanner("counting", "2k", k=0), "k 0 must be a whole number ≥ 1"),
    (lambda: MixturePlanner("counting", "2k", seed=True), "seed True must be a whole number ≥ 0"),
    (lambda: MixturePlanner("counting", "2k", objective="nope"), "objective 'nope' must be one of mean_variance, saturating"),
    (lambda: MixturePlanner("counting", "2k", tau=float("nan")), "tau nan must be a finite number"),
])
def test_planner_parameters_are_checked_at_fit(m7, make, message):
    planner = make()  # the constructor only stores
    with pytest.raises(PGFSelectError, match=message):
        planner.fit(m7)


@pytest.mark.parametrize("estimator, message", [
    (MatrixCompleter(coverage=1.0), "coverage 1.0 must be a finite number > 0 and < 1"),
    (MatrixCompleter(n_folds=1), "n_folds 1 must be a whole number ≥ 2"),
    (MatrixCompleter(alpha=(1.0, -1.0, 1.0)), "alpha .* must be None or three positive ridge strengths"),
    (TransferAnalysis(alpha=0), "alpha 0 must be a finite number > 0 and < 1"),
    (TransferAnalysis(top_fraction=1.5), "top_fraction 1.5 must be a finite number > 0 and ≤ 1"),
])
def test_completer_and_analysis_parameters_are_checked_at_fit(m7, estimator, message):
    with pytest.raises(PGFSelectError, match=message):
        estimator.fit(m7)


def test_a_fitted_estimator_reports_as_before(m7):
    planner = MixturePlanner("counting", "2k").fit(m7)
    assert sum(planner.to_dict()["allocation"].values()) == 2000
    assert len(MatrixCompleter().fit(m7).rows()) == len(m7.sources) * len(m7.targets)
    analysis = TransferAnalysis().fit(m7)
    assert set(analysis.personas()) == set(PERSONAS) and analysis.to_dict()
