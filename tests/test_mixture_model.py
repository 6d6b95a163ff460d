"""The fitted mixture response (fit-mixtures, plan --mixture-model) on runs with a known response."""

import json

import numpy as np
import pytest
import yaml

from pgfselect import MixturePlanner, PGFMatrix
from pgfselect.plan.mixture_model import MixtureResponse, read_model

from clirun import run_cli as run

SOURCES = ["A", "B", "C"]
BETA = np.array([0.30, 0.20, 0.05])
GAMMA = {("A", "B"): 0.8}  # A and B together give more than their blend


def response(w):
    return w @ BETA + GAMMA[("A", "B")] * w[0] * w[1]


def dirichlet_shares(n, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(3), n)


def test_fit_recovers_a_known_response_and_finds_the_interior_optimum():
    w = dirichlet_shares(30)
    model = MixtureResponse(alphas=(1e-6, 1e-4)).fit(w, np.array([response(x) for x in w]), SOURCES, "T")
    assert model.coef_ == pytest.approx(BETA, abs=0.02)
    assert model.interaction_[("A", "B")] == pytest.approx(0.8, abs=0.05)
    assert abs(model.interaction_[("A", "C")]) < 0.05 and model.cv_mae_ < 0.01
    best = model.best_shares(np.ones(3))
    # d/dwA of 0.3 a + 0.2 (1 - a) + 0.8 a (1 - a) = 0 at a = 0.5625
    assert best[0] == pytest.approx(0.5625, abs=0.03) and best[2] < 0.01
    again = MixtureResponse.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.predict(w[:3]) == pytest.approx(model.predict(w[:3]), abs=1e-5)  # coefficients rounded to 1e-6


def test_unfitted_and_too_few_runs_are_clear_errors():
    from pgfselect import PGFSelectError

    with pytest.raises(PGFSelectError, match="not fitted"):
        MixtureResponse().to_dict()
    with pytest.raises(PGFSelectError, match="at least 3"):
        MixtureResponse().fit(np.eye(3)[:2], np.array([0.1, 0.2]), SOURCES)


def _fake_train_folder(root, shares, accuracies, base=0.4, name="mix"):
    """A `pgfselect train --out` folder as the runner writes it (only the files fit-mixtures reads)."""
    folder = root / name
    ids = {s: f"synthetic:{s}" for s in SOURCES}
    ids["T"] = "synthetic:T"
    (folder).mkdir(parents=True)
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"recipe_hash": "h" + name, "resolved": {"task_ids": ids}}))

    def write(strategy, seed, acc, alloc):
        d = folder / "runs" / strategy / ("base" if seed is None else f"seed_{seed}")
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"format": "pgfselect-run", "recipe_hash": "h" + name,
                                                    "strategy": strategy, "seed": seed, "target": "synthetic:T",
                                                    "accuracy": acc, "correct": int(acc * 100), "n": 100}))
        (d / "config.json").write_text(json.dumps({"allocation": alloc, "target_name": "T"}))

    write("zero_shot", None, base, {})
    for k, (w, acc) in enumerate(zip(shares, accuracies)):
        write("pgf", k, acc, {ids[s]: int(round(x * 1000)) for s, x in zip(SOURCES, w) if x > 0})
    return folder


def test_fit_mixtures_cli_and_plan_with_the_model(tmp_path, capsys):
    w = np.round(dirichlet_shares(16, seed=3), 3)
    w[:, 2] = 1 - w[:, 0] - w[:, 1]
    base = 0.4
    acc = [base + response(x) * (1 - base) for x in w]
    folder = _fake_train_folder(tmp_path, w, acc, base)
    code, out, err = run(["fit-mixtures", str(folder), "--out", str(tmp_path / "m.json")], capsys)
    assert code == 0, err
    model = read_model(tmp_path / "m.json")
    assert model.target_ == "T" and model.interaction_[("A", "B")] == pytest.approx(0.8, abs=0.1)
    # The matrix's blend view of the same sources: A alone is the best single source.
    names = ["T", "A", "B", "C"]
    vals = np.zeros((2, 4, 4))
    vals[:, 1:, 0] = BETA
    m = PGFMatrix.from_values(vals, names, names)
    blend = MixturePlanner("T", 1000).fit(m).allocation_
    fitted = MixturePlanner("T", 1000, mixture_model=model).fit(m)
    assert blend == {"A": 1000}
    assert set(fitted.allocation_) == {"A", "B"} and 450 < fitted.allocation_["A"] < 680
    assert fitted.to_dict()["objective"] == "mixture_model" and fitted.expected_["pgf"] > 0.3
    csv = tmp_path / "mm.csv"
    m.to_csv(csv)
    code, out, err = run(["plan", "-t", "T", "-b", "1k", "-m", str(csv), "--mixture-model", str(tmp_path / "m.json"),
                          "--format", "json"], capsys)
    assert code == 0, err
    assert set(json.loads(out)["allocation"]) == {"A", "B"}
    code, _, err = run(["plan", "-t", "A", "-b", "1k", "-m", str(csv), "--mixture-model", str(tmp_path / "m.json")],
                       capsys)
    assert code == 2 and "fitted for target" in err
