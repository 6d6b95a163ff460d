"""The matrix completer: a ridge row + column model with calibrated error bars (see
:mod:`pgfselect.predict`)."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Sequence

import numpy as np

from ..errors import PGFSelectError
from ..estimator import Constraint, Estimator, boolean, interval, whole
from ..matrix import PGFMatrix
from ..names import resolve
from ..stats import quiet_nan_warnings
from .model import (COL_ALPHAS, DEFAULT_ALPHA, DIAG_MIN_SD, FALLBACK_SCALE, MIN_OVERLAP, MIN_RESIDUALS, PRIOR_ALPHAS,
                    PRIOR_ONLY_FACTOR, ROW_ALPHAS, SPREAD_PSEUDO, UNSEEN_INFLATION, _column_z, _Design, _extra, _factor,
                    _fit, _folds, _match_names, _normal_quantile, _num, _prior_level, _without, prior_only_scale,
                    task_similarity)


class MatrixCompleter(Estimator):
    """Complete a partial PGF matrix; scikit-learn style (parameters in the constructor, work in
    :meth:`fit`, learned state in attributes ending in ``_``).

    Parameters
    ----------
    alpha : (row, column, prior) ridge strengths, or None to choose them by cross-validation.
    n_folds : folds of the cross-validation that chooses ``alpha`` and calibrates the std.
    coverage : the nominal coverage the std is calibrated for (mean ± z·std; 0.90 ⇒ z = 1.645).
    use_similarity : add the BLINK task-metadata similarity as a regressor (see task_similarity).
    random_state : seed of the fold assignment (results are deterministic given it).

    Attributes after :meth:`fit`
    ----------------------------
    sources_, targets_ : task names (the matrix's own order).
    mean_, std_ : [source, target] completed seed-mean PGF and its uncertainty (seed std where
        measured, calibrated prediction std elsewhere; NaN on undefined zero-headroom cells).
    measured_, undefined_ : [source, target] bool masks.
    regime_ : [source, target] str: 'measured', 'undefined', 'diagonal', 'column' (the target has
        measured off-diagonal cells), 'no-column' (it has none), 'prior-only' (nothing measured).
    alpha_, prior_coef_ : chosen ridge strengths and the fitted prior coefficients (c_L, c_Z);
        None without priors or with nothing measured.
    calibration_ : dict with the std factors and the cross-validated residual scale.
    spread_ : [target] error scale per target column (std = regime factor × spread).
    coef_, prior_scale_ : ridge coefficients [μ, a, b, (c_L, c_Z), (c_S)] and the column spreads
        s_j that scale the priors' z-scores (None without priors).
    similarity_coef_ : c_S, PGF per shared task attribute (None when not used).
    priors_ : names of the priors used; notes_ : warnings for the user (e.g. unmatched tasks).
    """

    _parameter_constraints = {
        "alpha": Constraint(lambda v: v is None or (isinstance(v, (tuple, list)) and len(v) == 3
                                                    and all(interval(0, closed="right").check(a) for a in v)),
                            "None or three positive ridge strengths (row, column, prior)"),
        "n_folds": whole(2), "coverage": interval(0, 1, closed="neither"), "use_similarity": boolean(),
        "random_state": whole(0),
    }

    def __init__(self, alpha: tuple[float, float, float] | None = None, n_folds: int = 5,
                 coverage: float = 0.90, use_similarity: bool = True, random_state: int = 0):
        self.alpha = alpha
        self.use_similarity = use_similarity
        self.n_folds = n_folds
        self.coverage = coverage
        self.random_state = random_state

    # ------------------------------------------------------------------ public
    @property
    def sources(self) -> tuple[str, ...]:
        return self.sources_

    @property
    def targets(self) -> tuple[str, ...]:
        return self.targets_

    @property
    def predicted_(self) -> np.ndarray:
        return ~self.measured_ & ~self.undefined_

    def fit(self, matrix: PGFMatrix, priors: Sequence[PGFMatrix] = ()) -> "MatrixCompleter":
        self._validate_params()
        self._z = _normal_quantile(0.5 + self.coverage / 2)
        self.sources_, self.targets_ = tuple(matrix.sources), tuple(matrix.targets)
        self.notes_: list[str] = []
        y = matrix.mean()
        self.measured_ = matrix.measured.copy()
        # Zero headroom is a property of the target (its zero-shot accuracy is at the ceiling): a
        # column with undefined cells and no measured one is undefined for unmeasured sources too.
        dead = (matrix.undefined.any(axis=0) & ~self.measured_.any(axis=0))[None, :]
        self.undefined_ = matrix.undefined | (dead & ~self.measured_)
        diag = np.array([[s == t for t in self.targets_] for s in self.sources_], dtype=bool)
        offdiag = ~diag
        q, zq, self.priors_ = self._align_priors(matrix, priors)
        obs = self.measured_ & offdiag
        if not obs.any() and q is None:
            label = f" {matrix.name or matrix.model}" if (matrix.name or matrix.model) else ""
            raise PGFSelectError(
                f"matrix{label} has no measured off-diagonal cell: measure at least one source (one "
                "finetune fills its row), or give a prior matrix (priors=published:qwen2.5-vl-3b)")
        level = None
        if q is not None:
            level = _prior_level(q, offdiag)
        design = _Design(np.where(self.measured_, y, np.nan), obs, offdiag, level, zq,
                         task_similarity(self.sources_, self.targets_) if self.use_similarity else None)

        mean = np.full(y.shape, np.nan)
        std = np.full(y.shape, np.nan)
        regime = np.full(y.shape, "", dtype=object)
        if obs.any():
            self._fit_offdiag(design)
            pred_off = self._predict(design, (self.coef_, self.prior_scale_))
            seen = np.broadcast_to(obs.any(axis=0)[None, :], obs.shape)
            f = self.calibration_
            std_off = np.where(seen, f["factor_column"], f["factor_no_column"]) * self.spread_[None, :]
            regime_off = np.where(seen, "column", "no-column")
        else:  # priors only: their values, with the spread of their columns
            self.alpha_, self.coef_, self.prior_coef_, self.prior_scale_ = None, None, None, None
            self.similarity_coef_ = None
            self.spread_ = prior_only_scale(q, offdiag)
            pred_off = np.where(np.isfinite(q), q, level)
            std_off = np.broadcast_to(PRIOR_ONLY_FACTOR * self.spread_[None, :], y.shape)
            self.calibration_ = {"factor_prior_only": PRIOR_ONLY_FACTOR, "n_residuals": 0}
            regime_off = np.full(y.shape, "prior-only", dtype=object)
            self.notes_.append("no measured off-diagonal cell: every prediction is the priors' value")
        mean[offdiag] = pred_off[offdiag]
        std[offdiag] = std_off[offdiag]
        regime[offdiag] = regime_off[offdiag]

        d_mean, d_std = self._fit_diagonal(y, diag, q)
        mean[diag], std[diag], regime[diag] = d_mean[diag], d_std[diag], "diagonal"

        seed_sd = matrix.std()
        pooled = np.nanmedian(seed_sd[self.measured_]) if np.isfinite(seed_sd[self.measured_]).any() else 0.0
        mean = np.where(self.measured_, y, mean)
        std = np.where(self.measured_, np.where(np.isfinite(seed_sd), seed_sd, pooled), std)
        regime = np.where(self.measured_, "measured", regime)
        mean[self.undefined_] = np.nan
        std[self.undefined_] = np.nan
        regime[self.undefined_] = "undefined"
        self.mean_, self.std_, self.regime_ = mean, std, regime
        return self

    def column(self, target: str) -> dict:
        """One target's sources with mean, std, measured (the off-diagonal ones a plan uses)."""
        self._check_fitted("mean_")
        t = resolve(target, self.targets_, "target")
        j = self.targets_.index(t)
        return {s: {"mean": float(self.mean_[i, j]), "std": float(self.std_[i, j]),
                    "measured": bool(self.measured_[i, j])}
                for i, s in enumerate(self.sources_) if s != t}

    # ------------------------------------------------------------------ output
    def rows(self) -> list[dict]:
        """One row per (source, target), diagonal included: source, target, mean, std, measured."""
        self._check_fitted("mean_")
        out = []
        for i, s in enumerate(self.sources_):
            for j, t in enumerate(self.targets_):
                out.append({"source": s, "target": t, "mean": _num(self.mean_[i, j]),
                            "std": _num(self.std_[i, j]), "measured": int(self.measured_[i, j]),
                            "regime": str(self.regime_[i, j])})
        return out

    def to_csv(self) -> str:
        self._check_fitted("mean_")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["source", "target", "mean", "std", "measured"],
                           extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows():
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        return buf.getvalue()

    def to_dict(self) -> dict:
        self._check_fitted("mean_")
        return {"sources": list(self.sources_), "targets": list(self.targets_), "priors": list(self.priors_),
                "n_measured": int(self.measured_.sum()), "n_predicted": int(self.predicted_.sum()),
                "alpha": None if self.alpha_ is None else list(self.alpha_),
                "prior_coef": None if self.prior_coef_ is None else list(self.prior_coef_),
                "similarity_coef": self.similarity_coef_,
                "calibration": self.calibration_, "notes": list(self.notes_), "cells": self.rows()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    # ------------------------------------------------------------------ priors
    def _align_priors(self, matrix: PGFMatrix, priors: Sequence[PGFMatrix]):
        """The priors' seed means re-indexed onto ``matrix``'s [source, target]: their average (NaN
        where no prior has the cell) and the average of their within-column z-scores (0 there).
        z-scores, not raw values, carry the ranking: the priors' scales differ (7B's PGF spreads
        several times wider than 3B's), and a raw average would let the widest prior decide."""
        if not priors:
            return None, None, ()
        stack, zs, names = [], [], []
        offdiag = np.array([[s != t for t in matrix.targets] for s in matrix.sources])
        for p in priors:
            label = p.name or p.model or "prior"
            smap, sunk = _match_names(matrix.sources, p.sources)
            tmap, tunk = _match_names(matrix.targets, p.targets)
            shared = len(set(smap) & set(tmap)) if matrix.is_square else min(len(smap), len(tmap))
            unmatched = sorted(set(sunk) | set(tunk))
            if shared < MIN_OVERLAP:
                raise PGFSelectError(
                    f"prior {label!r} shares {shared} task(s) with the matrix, {MIN_OVERLAP} needed; "
                    f"unmatched: {', '.join(unmatched) or '-'}; prior tasks: {', '.join(p.sources)}")
            if unmatched:
                self.notes_.append(f"prior {label!r} lacks {', '.join(unmatched)}: using the "
                                   f"{shared} shared tasks")
            pm = p.mean()
            q = np.full((len(matrix.sources), len(matrix.targets)), np.nan)
            for i, s in enumerate(matrix.sources):
                for j, t in enumerate(matrix.targets):
                    if s in smap and t in tmap:
                        q[i, j] = pm[p.sources.index(smap[s]), p.targets.index(tmap[t])]
            stack.append(q)
            zs.append(_column_z(q, offdiag))
            names.append(label)
        with np.errstate(invalid="ignore"), quiet_nan_warnings():
            q = np.nanmean(np.stack(stack), axis=0)
            z = np.nanmean(np.stack(zs), axis=0)
        return q, np.where(np.isfinite(z), z, 0.0), tuple(names)

    # ------------------------------------------------------------------ off-diagonal model
    def _fit_offdiag(self, d: _Design) -> None:
        cells = np.argwhere(d.obs)
        alphas = self._alpha_grid(d)
        folds = _folds(len(cells), self.n_folds, self.random_state)
        if self.alpha is not None or len(cells) < 2 * self.n_folds or len(alphas) == 1:
            self.alpha_ = tuple(self.alpha) if self.alpha is not None else DEFAULT_ALPHA
            cv_note = "fixed" if self.alpha is not None else "default (too few cells to cross-validate)"
        else:
            best = None
            for alpha in alphas:
                err = 0.0
                for fold in folds:
                    pred = self._predict(d, _fit(d, _without(d.obs, cells[fold]), alpha))
                    err += np.abs(pred[tuple(cells[fold].T)] - d.y[tuple(cells[fold].T)]).sum()
                if best is None or err < best[0] - 1e-12:
                    best = (err, alpha)
            self.alpha_ = best[1]
            cv_note = f"{self.n_folds}-fold cross-validation"
        self.coef_, self.prior_scale_ = _fit(d, d.obs, self.alpha_)
        base = 1 + len(self.sources_) + len(self.targets_)
        self.prior_coef_ = None if d.level is None else tuple(round(float(c), 4) for c in self.coef_[base:base + 2])
        self.similarity_coef_ = None if d.similarity is None else round(float(self.coef_[-1]), 4)
        self._calibrate(d, cells, folds)
        self.calibration_["alpha_choice"] = cv_note

    def _alpha_grid(self, d: _Design):
        priors = PRIOR_ALPHAS if d.level is not None else (DEFAULT_ALPHA[2],)
        return [(a, b, c) for a in ROW_ALPHAS for b in COL_ALPHAS for c in priors]

    @staticmethod
    def _predict(d: _Design, fitted) -> np.ndarray:
        coef, spread = fitted
        ns, nt = d.obs.shape
        out = coef[0] + coef[1:1 + ns][:, None] + coef[1 + ns:1 + ns + nt][None, :]
        for k, (feature, _, _) in enumerate(_extra(d, spread)):
            out = out + coef[1 + ns + nt + k] * feature
        return out

    def _calibrate(self, d: _Design, cells: np.ndarray, folds: list[np.ndarray]) -> None:
        """Held-out residuals → std factors per regime, so mean ± z·std covers ``coverage``."""
        resid, col, seen = [], [], []
        for fold in folds:  # cells hidden at random: their column usually keeps other cells
            train = _without(d.obs, cells[fold])
            pred = self._predict(d, _fit(d, train, self.alpha_))
            for i, j in cells[fold]:
                resid.append(d.y[i, j] - pred[i, j])
                col.append(j)
                seen.append(bool(train[:, j].any()))
        for j in np.unique(cells[:, 1]):  # a whole column hidden: a target nobody measured yet
            train = d.obs.copy()
            train[:, j] = False
            if not train.any():
                continue
            pred = self._predict(d, _fit(d, train, self.alpha_))
            for i in np.flatnonzero(d.obs[:, j]):
                resid.append(d.y[i, j] - pred[i, j])
                col.append(j)
                seen.append(False)
        resid, col, seen = np.array(resid), np.array(col), np.array(seen)
        # A column's spread comes from its 'seen' residuals only (the column-hidden ones also carry
        # the column-level error, which is the regime factor's job), leaving the cell itself out.
        base = resid[seen] if seen.any() else resid
        s0 = math.sqrt(np.mean(base ** 2)) if len(base) else 0.0
        if len(resid) < MIN_RESIDUALS:
            # A handful of residuals cannot set a scale; never go below a typical one.
            s0 = max(s0, FALLBACK_SCALE)
            self.notes_.append(f"only {len(resid)} held-out residual(s): the std is a rough default "
                               "(measure more sources to calibrate it)")
        ss = np.zeros(d.obs.shape[1])
        nn = np.zeros(d.obs.shape[1])
        np.add.at(ss, col[seen], resid[seen] ** 2)
        np.add.at(nn, col[seen], 1)
        own = np.where(seen, resid ** 2, 0.0)
        loo = np.sqrt((ss[col] - own + SPREAD_PSEUDO * s0 ** 2) / (nn[col] - seen + SPREAD_PSEUDO))
        ratio = np.abs(resid) / np.maximum(loo, 1e-12)
        f_seen = _factor(ratio[seen], self.coverage, self._z)
        f_unseen = _factor(ratio[~seen], self.coverage, self._z)
        if f_seen is None:
            f_seen = f_unseen / UNSEEN_INFLATION if f_unseen is not None else 1.0
        if f_unseen is None:
            f_unseen = f_seen * UNSEEN_INFLATION
        self.spread_ = np.sqrt((ss + SPREAD_PSEUDO * s0 ** 2) / (nn + SPREAD_PSEUDO))
        self.calibration_ = {"factor_column": round(f_seen, 4), "factor_no_column": round(f_unseen, 4),
                             "residual_scale": round(s0, 4), "n_residuals": int(len(resid)),
                             "n_residuals_no_column": int((~seen).sum())}

    # ------------------------------------------------------------------ diagonal
    def _fit_diagonal(self, y, diag, q):
        """Self-transfer cells: the measured diagonal's mean, or the priors' diagonal shifted onto
        it; std from the diagonal's own residuals, never below DIAG_MIN_SD with few of them."""
        known = diag & self.measured_
        mean = np.full(y.shape, np.nan)
        guess = np.full(y.shape, np.nan)
        if q is not None:
            both = known & np.isfinite(q)
            guess = q + (float(np.mean(y[both] - q[both])) if both.any() else 0.0)
            resid = y[both] - guess[both]
        else:
            resid = y[known] - y[known].mean() if known.any() else np.array([])
        centre = (float(y[known].mean()) if known.any() else
                  float(np.nanmean(guess[diag])) if np.isfinite(guess[diag]).any() else float(np.nanmean(y)))
        mean[diag] = np.where(np.isfinite(guess), guess, centre)[diag]
        n = len(resid)
        sd = math.sqrt(np.sum(resid ** 2) / (n - 1)) if n >= 2 else DIAG_MIN_SD
        if n < 5:
            sd = max(sd, DIAG_MIN_SD)
        std = np.full(y.shape, np.nan)
        std[diag] = sd * math.sqrt(1 + 1 / max(n, 1))
        return mean, std




def complete(matrix: PGFMatrix, priors: Sequence[PGFMatrix] = (), **params) -> MatrixCompleter:
    """Fit a :class:`MatrixCompleter`; the planner's entry point. The result has ``mean_``,
    ``std_``, ``measured_`` over [source, target] in the matrix's own order and ``sources`` /
    ``targets`` names; shrink predicted cells with ``mean_ − κ·max(std_, seed std)``."""
    return MatrixCompleter(**params).fit(matrix, priors)
