"""A mixture-response model fitted from trained mixes, as an alternative to the blend.

The matrix says what each source alone does; how a target responds to a *mixture* is an
assumption (the blend: PGF linear in the shares). A few trained mixes whose shares differ (e.g.
Dirichlet-sampled, as RegMix does) let that response be fitted instead: Scheffé's quadratic
mixture model

    PGF(w) = Σ_i β_i w_i + Σ_{i<j} γ_ij w_i w_j          (Σ w = 1, so no intercept)

(β_i: source i alone; γ_ij: what the pair adds beyond the blend), fitted by ridge regression with
the penalty chosen by cross-validation (scikit-learn), pairs only where some run mixed them.
``cv_mae_`` is the cross-validated error, to be read against the blend's before trusting it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import yaml

from ..compare import load_runs
from ..errors import PGFSelectError

MODEL_FORMAT = "pgfselect-mixture-model"


class MixtureResponse:
    """Fit ``PGF(shares)`` for one target from trained runs.

    Parameters: ``alphas`` (ridge penalties tried by cross-validation), ``interactions`` (fit the
    pairwise γ terms). After :meth:`fit`: ``sources_``, ``pairs_``, ``coef_`` (β), ``interaction_``
    (γ by pair), ``alpha_``, ``cv_mae_``, ``n_runs_``, ``target_``.
    """

    name = "mixture_model"  # the plan's objective
    solver = "scipy-slsqp"
    status = "optimal (fitted mixture response, multi-start)"

    def __init__(self, alphas=(1e-4, 1e-3, 1e-2, 1e-1, 1.0), interactions: bool = True):
        self.alphas = alphas
        self.interactions = interactions

    def _features(self, shares: np.ndarray) -> np.ndarray:
        cols = [shares] + [shares[:, [i]] * shares[:, [j]] for i, j in self.pairs_]
        return np.hstack(cols)

    def fit(self, shares, pgf, sources, target: str = "") -> "MixtureResponse":
        from sklearn.linear_model import RidgeCV
        from sklearn.model_selection import KFold, cross_val_predict

        shares, pgf = np.asarray(shares, float), np.asarray(pgf, float)
        if shares.ndim != 2 or shares.shape[0] != pgf.shape[0] or shares.shape[1] != len(sources):
            raise PGFSelectError(f"shares must be [runs, sources]: got {shares.shape} for {len(sources)} sources "
                                 f"and {pgf.shape[0]} PGF values")
        self.sources_, self.target_ = list(sources), target
        self.pairs_ = [(i, j) for i, j in itertools.combinations(range(len(sources)), 2)
                       if self.interactions and ((shares[:, i] > 0) & (shares[:, j] > 0)).any()]
        X = self._features(shares)
        self.n_runs_ = len(pgf)
        if self.n_runs_ < 3:
            raise PGFSelectError(f"fitting a mixture response needs at least 3 trained runs, got {self.n_runs_}")
        model = RidgeCV(alphas=list(self.alphas), fit_intercept=False).fit(X, pgf)
        self.alpha_ = float(model.alpha_)
        folds = KFold(n_splits=min(5, self.n_runs_), shuffle=True, random_state=0)
        cv = cross_val_predict(RidgeCV(alphas=list(self.alphas), fit_intercept=False), X, pgf, cv=folds)
        self.cv_mae_ = float(np.mean(np.abs(cv - pgf)))
        k = len(sources)
        self.coef_ = model.coef_[:k].copy()
        self.interaction_ = {(self.sources_[i], self.sources_[j]): float(g) for (i, j), g in zip(self.pairs_, model.coef_[k:])}
        return self

    def predict(self, shares) -> np.ndarray:
        shares = np.atleast_2d(np.asarray(shares, float))
        gamma = np.array([self.interaction_[(self.sources_[i], self.sources_[j])] for i, j in self.pairs_])
        return self._features(shares) @ np.concatenate([self.coef_, gamma])

    def expected(self, shares) -> dict:
        """The plan's ``expected`` entry for a mix: the fitted response, its error from the CV MAE."""
        pgf = round(float(self.predict(shares)[0]), 4)
        err = round(1.2533 * self.cv_mae_, 4)  # MAE → std of a normal error
        return {"pgf": pgf, "std_error": err, "range": [round(pgf - 1.959964 * err, 4), round(pgf + 1.959964 * err, 4)],
                "assumptions": f"the fitted mixture response of {self.n_runs_} trained runs (cross-validated MAE "
                               f"{self.cv_mae_:.3f}); an estimate that `pgfselect train` verifies"}

    def best_shares(self, share_caps, fixed=None) -> np.ndarray:
        """Shares over ``sources_`` (summing to 1, within ``share_caps``) that maximise the fitted
        response; ``fixed``: shares already placed (index -> share). Multi-start SLSQP: with
        positive interactions the response need not be concave."""
        from scipy.optimize import minimize

        k = len(self.sources_)
        caps = np.minimum(np.asarray(share_caps, float), 1.0)
        fixed = dict(fixed or {})
        lo = np.array([fixed.get(i, 0.0) for i in range(k)])
        hi = np.array([fixed.get(i, caps[i]) for i in range(k)])
        starts = [np.eye(k)[i] for i in range(k)] + [np.full(k, 1 / k)]
        best, arg = -np.inf, None
        for s in starts:
            x0 = np.clip(s, lo, hi)
            res = minimize(lambda w: -float(self.predict(w)[0]), x0, method="SLSQP", bounds=list(zip(lo, hi)),
                           constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"maxiter": 300})
            if res.success and abs(res.x.sum() - 1) < 1e-6 and -res.fun > best:
                best, arg = -res.fun, np.clip(res.x, lo, hi)
        if arg is None:
            raise PGFSelectError("the fitted mixture response could not be optimised within the caps")
        return arg

    def to_dict(self) -> dict:
        if not hasattr(self, "coef_"):
            raise PGFSelectError("MixtureResponse is not fitted: call fit() first")
        return {"format": MODEL_FORMAT, "version": 1, "target": self.target_, "sources": self.sources_,
                "coef": dict(zip(self.sources_, self.coef_.round(6).tolist())),
                "interactions": [{"pair": list(p), "gamma": round(g, 6)} for p, g in self.interaction_.items()],
                "alpha": self.alpha_, "cv_mae": round(self.cv_mae_, 6), "n_runs": self.n_runs_}

    @classmethod
    def from_dict(cls, doc: dict, where: str = "mixture model") -> "MixtureResponse":
        if not isinstance(doc, dict) or doc.get("format") != MODEL_FORMAT:
            raise PGFSelectError(f"{where} is not a pgfselect mixture model (format {MODEL_FORMAT!r})")
        m = cls()
        m.sources_, m.target_ = list(doc["sources"]), doc["target"]
        m.coef_ = np.array([doc["coef"][s] for s in m.sources_], float)
        index = {s: i for i, s in enumerate(m.sources_)}
        m.pairs_ = [(index[a], index[b]) for a, b in (e["pair"] for e in doc["interactions"])]
        m.interaction_ = {tuple(e["pair"]): float(e["gamma"]) for e in doc["interactions"]}
        m.alpha_, m.cv_mae_, m.n_runs_ = doc["alpha"], doc["cv_mae"], doc["n_runs"]
        return m


def read_model(path) -> MixtureResponse:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PGFSelectError(f"mixture model {str(path)!r} not found") from None
    except json.JSONDecodeError as exc:
        raise PGFSelectError(f"mixture model {str(path)!r} is not JSON: {exc}") from None
    return MixtureResponse.from_dict(doc, where=f"mixture model {str(path)!r}")


def runs_to_training_data(folders) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """(shares [runs, sources], PGF per run, source names as the matrix names them, target) from
    finished ``pgfselect train`` folders; the base is their zero_shot run."""
    runs = load_runs(folders)
    base = [r.accuracy for r in runs if r.strategy == "zero_shot"]
    if not base:
        raise PGFSelectError("the runs hold no zero_shot run: its accuracy is the base PGF is measured from; "
                             "add zero_shot to the recipe's baselines")
    base_acc = float(np.mean(base))
    if base_acc >= 1:
        raise PGFSelectError("the zero-shot accuracy is 1.0: no headroom, PGF undefined")
    rows, names, target = [], {}, runs[0].target
    for r in runs:
        if r.strategy == "zero_shot":
            continue
        cfg = json.loads((r.path / "config.json").read_text())
        recipe = yaml.safe_load((r.folder / "recipe.yaml").read_text())
        by_id = {tid: name for name, tid in recipe["resolved"]["task_ids"].items()}
        target = cfg.get("target_name", target)  # the target as the matrix names it
        total = sum(cfg["allocation"].values())
        share = {by_id.get(t, t): n / total for t, n in cfg["allocation"].items()}
        names.update(dict.fromkeys(share))
        rows.append((share, (r.accuracy - base_acc) / (1 - base_acc)))
    sources = list(names)
    shares = np.array([[s.get(n, 0.0) for n in sources] for s, _ in rows])
    return shares, np.array([p for _, p in rows]), sources, target
