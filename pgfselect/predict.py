"""Predict a PGF matrix from a few finetunes: completion with calibrated error bars, and which
sources to finetune next.

One finetune of source *i* measures the whole row *i* (every target is evaluated), so a user with a
new model or target has a few rows, or none, and wants (a) estimates for the rest and (b) to know
which rows to pay for next. On the three published matrices targets differ far more than sources
(a column-only model explains most of the variance), and the order of sources within a column is
nearly unpredictable from other cells of the same matrix, while another model's matrix ranks them
much better. Hence the model, for an off-diagonal cell (source *i* ≠ target *j*)::

    PGF(i→j) ≈ μ + a_i + b_j + c_S · S_ij + c_L · L_j + c_Z · s_j · Z_ij

a ridge additive row + column model (strengths chosen by cross-validation on the measured cells);
``S_ij`` counts the BLINK task attributes (perceptual level, granularity, number of images, of
choices) that source and target share, a weak but consistent signal for the order of sources
within a column, which the additive model cannot see; when prior matrices are given, the priors'
column level ``L_j`` and their within-column z-score ``Z_ij`` scaled by the target column's own
spread ``s_j`` (so ``c_Z`` reads as a correlation, shrunk towards a typical cross-model one). With
no measured cell at all the prediction is the priors' own (averaged) value.
The diagonal (self-transfer, a different quantity: 0.30–0.39 on average against −0.05–0.15 off it)
is kept apart.

Every predicted cell carries a std that is calibrated, not decorative: held-out residuals from
K-fold and leave-one-column-out cross-validation, scaled by a per-column spread, set a factor per
regime (the target column has measured cells / has none) so that mean ± 1.645·std holds about 90%
of held-out cells. Measured cells keep their seed mean and seed std.

    >>> from pgfselect.predict import MatrixCompleter
    >>> c = MatrixCompleter().fit(partial, priors=[load("published:qwen2.5-vl-3b")])
    >>> c.mean_, c.std_, c.measured_          # [source, target] in partial's order
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import PGFSelectError
from .matrix import UNMEASURED, PGFMatrix
from .names import resolve

MIN_OVERLAP = 3  # tasks a prior must share with the matrix to be usable
# Ridge strengths tried by cross-validation: row effects, column effects, prior coefficients.
ROW_ALPHAS = (3.0, 10.0, 30.0, 100.0)
COL_ALPHAS = (0.1, 0.3, 1.0)
PRIOR_ALPHAS = (0.3, 3.0, 30.0)
DEFAULT_ALPHA = (30.0, 0.3, 3.0)  # used when too few cells are measured to cross-validate
SPREAD_PSEUDO = 3.0  # pseudo-cells pulling a column's residual spread towards the pooled one
# Calibration factor for the priors-only case (no measured off-diagonal cell, so no residual to
# learn from): the conformal 90% quantile of |truth − priors| / prior_only_scale over every
# published matrix predicted from the others, singly and together, divided by 1.645
# (benchmarks/prediction.py, `prior_only_factor`; it varies from 0.6 to 1.8 across those cases).
PRIOR_ONLY_FACTOR = 1.35
# With no residuals of its own, the no-measured-column regime is this much wider than the other.
UNSEEN_INFLATION = 1.6
# Within-column correlation of sources between models, the value c_Z is shrunk towards.
PRIOR_CORRELATION = 0.3
# Task attributes whose agreement makes the similarity regressor, and its ridge strength (in
# squared PGF per shared attribute: strong, so a few cells cannot make it large; the effect on the
# published matrices is +0.01 to +0.07 PGF for a shared level, image count or answer format).
SIMILARITY_FIELDS = ("level", "granularity", "n_images", "n_choices")
SIMILARITY_ALPHA = 100.0
# Fewer held-out residuals than this in a regime: its factor falls back on the other regime's
# (× or ÷ UNSEEN_INFLATION), and the residual scale on FALLBACK_SCALE at least.
MIN_RESIDUALS = 8
# Residual scale assumed when too few cells are measured to estimate one: about the off-diagonal
# cross-validated residual RMS of the additive model on the published matrices (see calibration_).
FALLBACK_SCALE = 0.2
# Self-transfer spread on the published matrices (sd ≈ 0.25 within each): the least std of a
# predicted diagonal cell when fewer than 5 diagonal cells are measured.
DIAG_MIN_SD = 0.25


@dataclass(frozen=True)
class _Design:
    """What the off-diagonal regression sees: values, masks and prior features on [source, target]."""

    y: np.ndarray  # seed-mean PGF, NaN where not measured
    obs: np.ndarray  # measured off-diagonal cells (the training set)
    offdiag: np.ndarray  # cells whose source is not the target
    level: np.ndarray | None  # priors' column level L_j broadcast to [source, target]
    rank: np.ndarray | None  # priors' within-column z-score Z_ij (mean over priors)
    similarity: np.ndarray | None  # task-metadata similarity S_ij (see task_similarity)


class MatrixCompleter:
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
        if not 0 < self.coverage < 1:
            raise PGFSelectError(f"coverage must be in (0, 1), got {self.coverage}")
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
                "finetune fills its row), or give a prior matrix (--prior published:qwen2.5-vl-3b)")
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
        t = resolve(target, self.targets_, "target")
        j = self.targets_.index(t)
        return {s: {"mean": float(self.mean_[i, j]), "std": float(self.std_[i, j]),
                    "measured": bool(self.measured_[i, j])}
                for i, s in enumerate(self.sources_) if s != t}

    # ------------------------------------------------------------------ output
    def rows(self) -> list[dict]:
        """One row per (source, target), diagonal included: source, target, mean, std, measured."""
        out = []
        for i, s in enumerate(self.sources_):
            for j, t in enumerate(self.targets_):
                out.append({"source": s, "target": t, "mean": _num(self.mean_[i, j]),
                            "std": _num(self.std_[i, j]), "measured": int(self.measured_[i, j]),
                            "regime": str(self.regime_[i, j])})
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["source", "target", "mean", "std", "measured"],
                           extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in self.rows():
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
        return buf.getvalue()

    def to_dict(self) -> dict:
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
        with np.errstate(invalid="ignore"), _quiet():
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


# ---------------------------------------------------------------------- suggest
@dataclass
class Suggestion:
    target: str
    sources: list[str]
    reasons: list[str]
    scores: list[float]
    completer: MatrixCompleter

    def to_dict(self) -> dict:
        return {"target": self.target, "suggest": self.sources, "reasons": self.reasons,
                "scores": [round(s, 4) for s in self.scores], "priors": list(self.completer.priors_),
                "notes": list(self.completer.notes_)}


def suggest(matrix: PGFMatrix, target: str, n_finetunes: int, priors: Sequence[PGFMatrix] = (),
            top_k: int = 3, completer: MatrixCompleter | None = None,
            exclude: Sequence[str] = ()) -> Suggestion:
    """The ``n_finetunes`` sources to finetune next so the plan for ``target`` becomes reliable.

    A plan leans on the target's best few sources, so a source is worth measuring by its expected
    improvement over the current ``top_k``-th best value of the column, E[max(0, PGF − τ)] under
    the completed mean and std: high predicted value, or high uncertainty, or both. τ is the
    ``top_k``-th best measured value when that many are measured, else the ``top_k``-th best
    predicted mean (so, with nothing measured, the ranking is the priors' one). Sources whose cell
    for the target is already measured, the target itself and ``exclude`` (say, finetunes already
    running) are never suggested.

    Built to be looped (``measure --adaptive``): suggest 1, measure it, add its row to the matrix,
    suggest again; pass a fitted ``completer`` to reuse one fit for several targets.
    """
    matrix = with_all_sources(matrix)
    t = _resolve_target(target, matrix, priors)
    skip = {resolve(x, matrix.sources, "source") for x in exclude}
    if isinstance(n_finetunes, bool) or not isinstance(n_finetunes, (int, np.integer)) or n_finetunes <= 0:
        raise PGFSelectError(f"--finetunes must be a whole number ≥ 1, got {n_finetunes!r}")
    j = matrix.targets.index(t)
    measured = matrix.measured[:, j]
    if matrix.undefined[:, j].any() and not measured.any():
        raise PGFSelectError(f"target {t} has no headroom (its zero-shot accuracy is at the ceiling), so PGF "
                             "towards it is undefined: no finetune can make its plan more reliable")
    candidates = [i for i, s in enumerate(matrix.sources)
                  if s != t and not measured[i] and not matrix.undefined[i, j] and s not in skip]
    n_other = sum(1 for s in matrix.sources if s != t)
    n_measured = sum(1 for i, s in enumerate(matrix.sources) if s != t and measured[i])
    if n_finetunes > len(candidates):
        raise PGFSelectError(
            f"--finetunes {n_finetunes} is more than the {len(candidates)} source(s) available for {t} "
            f"({n_other} sources other than the target, {n_measured} already measured"
            f"{f', {len(skip - {t})} excluded' if skip else ''})")
    if completer is not None and (completer.sources_, completer.targets_) != (matrix.sources, matrix.targets):
        raise PGFSelectError("the completer was fitted on another matrix: fit it on with_all_sources(matrix)")
    c = completer if completer is not None else MatrixCompleter().fit(matrix, priors)
    mu, sd = c.mean_[:, j], c.std_[:, j]
    others = [i for i, s in enumerate(matrix.sources) if s != t]
    known = sorted((mu[i] for i in others if measured[i]), reverse=True)
    if len(known) >= top_k:
        tau, tau_what = known[top_k - 1], f"the measured #{top_k} ({known[top_k - 1]:+.2f})"
    else:
        means = sorted((mu[i] for i in others), reverse=True)
        tau = means[min(top_k, len(means)) - 1]
        tau_what = f"the predicted #{top_k} ({tau:+.2f})"
    scores, pbeat = {}, {}
    for i in candidates:
        s = max(float(sd[i]), 1e-9)
        z = (mu[i] - tau) / s
        scores[i] = float((mu[i] - tau) * _ncdf(z) + s * _npdf(z))
        pbeat[i] = _ncdf(z)
    order = sorted(candidates, key=lambda i: (-scores[i], -mu[i], matrix.sources[i]))[:n_finetunes]
    with_priors = " and priors" if c.priors_ else ""
    how = {"column": f"row+column model{with_priors}",
           "no-column": f"row+column model{with_priors}; no cell of this target measured yet",
           "prior-only": "priors' value"}
    reasons = [f"predicted PGF {mu[i]:+.2f} ± {sd[i]:.2f} ({how.get(str(c.regime_[i, j]), c.regime_[i, j])}); "
               f"{100 * pbeat[i]:.0f}% chance to beat {tau_what}" for i in order]
    return Suggestion(t, [matrix.sources[i] for i in order], reasons, [scores[i] for i in order], c)


def complete(matrix: PGFMatrix, priors: Sequence[PGFMatrix] = (), **params) -> MatrixCompleter:
    """Fit a :class:`MatrixCompleter`; the planner's entry point. The result has ``mean_``,
    ``std_``, ``measured_`` over [source, target] in the matrix's own order and ``sources`` /
    ``targets`` names; shrink predicted cells with ``mean_ − κ·max(std_, seed std)``."""
    return MatrixCompleter(**params).fit(matrix, priors)


def filled_values(matrix: PGFMatrix, completer: MatrixCompleter) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed values for tools that need every cell in every seed (``analyze --complete``):
    measured seeds keep their value, a seed missing from a measured cell takes the cell's seed
    mean, an unmeasured cell takes its prediction in every seed (so it adds no seed spread: its
    uncertainty is ``completer.std_``, not a CI over seeds). Returns (values [seed, source,
    target], predicted [source, target]); undefined cells stay NaN."""
    if completer.sources_ != tuple(matrix.sources) or completer.targets_ != tuple(matrix.targets):
        raise PGFSelectError("the completer was fitted on another matrix (sources/targets differ)")
    fill = np.where(completer.measured_, matrix.mean(), completer.mean_)
    values = np.where(np.isfinite(matrix.values), matrix.values, fill[None])
    return values, completer.predicted_


def complete_for_analysis(matrix: PGFMatrix, priors: Sequence[PGFMatrix] = ()):
    """What ``analyze --complete`` feeds to ``TransferAnalysis.fit_values``: (tasks, seeds,
    values [seed, source, target], mean [source, target], predicted cells as 'source→target'),
    over the matrix's source order on both axes."""
    matrix = with_all_sources(matrix)
    if not matrix.is_square:
        raise PGFSelectError(f"{matrix.name or 'the matrix'} is not square: analysis needs the same tasks as "
                             "sources and targets")
    m = matrix.subset(sources=matrix.sources, targets=matrix.sources)
    c = MatrixCompleter().fit(m, priors)
    if c.undefined_.any():
        bad = [f"{m.sources[i]}→{m.targets[j]}" for i, j in np.argwhere(c.undefined_)]
        raise PGFSelectError(f"{matrix.name or 'the matrix'} has {len(bad)} undefined (zero-headroom) cell(s), "
                             f"e.g. {', '.join(bad[:3])}: prediction cannot fill them; analyse a subset without "
                             "those targets")
    values, predicted = filled_values(m, c)
    cells = [f"{m.sources[i]}→{m.targets[j]}" for i, j in np.argwhere(predicted)]
    return m.sources, m.seeds, values, c.mean_, cells


def with_all_sources(matrix: PGFMatrix) -> PGFMatrix:
    """The matrix with a source row, unmeasured, for every target that has none.

    A file holds the rows of the sources finetuned so far, so its source axis lists only those;
    every target is a task one could finetune on, so the sources not yet measured are its targets
    missing from the source axis (in target order, after the measured ones)."""
    missing = [t for t in matrix.targets if t not in matrix.sources]
    if not missing or not set(matrix.sources) <= set(matrix.targets):
        return matrix
    sources = tuple(matrix.sources) + tuple(missing)
    pad = (len(matrix.seeds), len(missing), len(matrix.targets))

    def grow(a, fill):
        return None if a is None else np.concatenate([a, np.full(pad, fill, dtype=a.dtype)], axis=1)

    return PGFMatrix(sources, matrix.targets, matrix.seeds, grow(matrix.values, np.nan),
                     grow(matrix.status, UNMEASURED), model=matrix.model, name=matrix.name,
                     n_eval=matrix.n_eval, correct_base=matrix.correct_base,
                     correct_ft=grow(matrix.correct_ft, np.nan), ceiling=matrix.ceiling,
                     provenance=dict(matrix.provenance))


def empty_like(matrix: PGFMatrix) -> PGFMatrix:
    """The same tasks with nothing measured (what a user with a new model starts from)."""
    return PGFMatrix.from_values(np.full((1, len(matrix.sources), len(matrix.targets)), np.nan),
                                 matrix.sources, matrix.targets, seeds=("seed_0",), model=matrix.model)


# ---------------------------------------------------------------------- helpers
def _resolve_target(target: str, matrix: PGFMatrix, priors: Sequence[PGFMatrix]) -> str:
    try:
        return resolve(target, matrix.targets, "target")
    except PGFSelectError:
        in_prior = any(_try_resolve(target, p.targets) for p in priors)
        where = "the matrix (priors have it, but a new target needs its column in the matrix)" if in_prior \
            else "the matrix or any prior"
        raise PGFSelectError(f"target {target!r} is absent from {where}; matrix targets: "
                             f"{', '.join(matrix.targets)}") from None


def _try_resolve(name: str, valid) -> str | None:
    try:
        return resolve(name, valid)
    except PGFSelectError:
        return None


def _match_names(mine: Sequence[str], theirs: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Map each of ``mine`` to a name in ``theirs`` (exact, alias, or without a 'suite:' prefix)."""
    out, missing = {}, []
    for name in mine:
        hit = _try_resolve(name, theirs) or (_try_resolve(name.split(":", 1)[1], theirs) if ":" in name else None)
        if hit is None:
            missing.append(name)
        else:
            out[name] = hit
    return out, missing


def prior_only_scale(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """Per-target error scale of the priors' value used as is: models differ both in a column's
    level (its spread over targets) and in the order within it (the column's spread), hence
    sqrt(column sd² + overall sd²) of the priors' off-diagonal cells."""
    qs = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        col_sd = np.nanstd(qs, axis=0, ddof=1)
        overall = float(np.nanstd(qs))
    col_sd = np.where(np.isfinite(col_sd), col_sd, overall)
    return np.sqrt(col_sd ** 2 + overall ** 2)


def _prior_level(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    """The priors' column level (mean off-diagonal PGF per target), broadcast to the matrix."""
    qo = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        lvl = np.nanmean(qo, axis=0)
    lvl = np.where(np.isfinite(lvl), lvl, np.nanmean(lvl) if np.isfinite(lvl).any() else 0.0)
    return np.broadcast_to(lvl[None, :], q.shape).copy()


def _column_z(q: np.ndarray, offdiag: np.ndarray) -> np.ndarray:
    qo = np.where(offdiag, q, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), _quiet():
        sd = np.nanstd(qo, axis=0)
        return (qo - np.nanmean(qo, axis=0)) / np.where(sd > 0, sd, np.nan)


def _column_spread(y: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Within-column sd of the ``train`` cells, pulled towards the pooled one (few cells each)."""
    n = train.sum(axis=0)
    vals = np.where(train, y, 0.0)
    mean = vals.sum(axis=0) / np.maximum(n, 1)
    ss = (np.where(train, y - mean, 0.0) ** 2).sum(axis=0)
    dof = np.maximum(n - 1, 0)
    pooled = ss.sum() / dof.sum() if dof.sum() else 0.0
    return np.sqrt((ss + SPREAD_PSEUDO * pooled) / (dof + SPREAD_PSEUDO))


def _extra(d: _Design, spread: np.ndarray | None) -> list[tuple[np.ndarray, float | None, float]]:
    """Regressors beyond μ + a_i + b_j as (feature [source, target], ridge strength or None for
    the CV-chosen prior one, value the coefficient is shrunk towards)."""
    out = []
    if d.level is not None:
        out += [(d.level, None, 0.0), (spread[None, :] * d.rank, None, PRIOR_CORRELATION)]
    if d.similarity is not None:
        out.append((d.similarity, SIMILARITY_ALPHA, 0.0))
    return out


def _fit(d: _Design, train: np.ndarray, alpha):
    """Ridge fit of μ + a_i + b_j (+ c_L·L_j + c_Z·s_j·Z_ij) (+ c_S·S_ij) on the ``train`` cells.
    s_j is the target column's own spread, so c_Z reads as a correlation. Row/column effects, c_L
    and c_S are shrunk towards 0, c_Z towards PRIOR_CORRELATION (what the published matrices
    show), so that a few cells cannot talk the model out of the priors' ranking.
    Returns (coefficients [μ, a, b, extras], s)."""
    ns, nt = train.shape
    ii, jj = np.nonzero(train)
    spread = _column_spread(d.y, train) if d.level is not None else None
    extra = _extra(d, spread)
    A = np.zeros((len(ii), 1 + ns + nt + len(extra)))
    A[:, 0] = 1.0
    A[np.arange(len(ii)), 1 + ii] = 1.0
    A[np.arange(len(ii)), 1 + ns + jj] = 1.0
    for k, (feature, _, _) in enumerate(extra):
        A[:, 1 + ns + nt + k] = feature[ii, jj]
    a_row, a_col, a_prior = alpha
    pen = np.r_[1e-6, np.full(ns, a_row), np.full(nt, a_col),
                [a_prior if strength is None else strength for _, strength, _ in extra]]
    target = np.r_[np.zeros(1 + ns + nt), [toward for _, _, toward in extra]]
    lhs = A.T @ A + np.diag(pen)
    rhs = A.T @ d.y[ii, jj] + pen * target
    return np.linalg.solve(lhs, rhs), spread


def task_similarity(sources: Sequence[str], targets: Sequence[str]) -> np.ndarray | None:
    """[source, target] how many of perceptual level, granularity, number of images and number of
    choices two BLINK tasks share (from data/blink_tasks.csv; 'suite:Name' maps through Name),
    centred over the known off-diagonal pairs; 0 where a task is not a BLINK task. None when no
    pair is known. Tasks alike in these ways transfer a little better on all three published
    matrices; the model learns how much from the measured cells."""
    from .names import BLINK_TASKS, blink_tasks

    meta = blink_tasks()

    def info(name):
        hit = _try_resolve(name.split(":", 1)[-1], BLINK_TASKS)
        return None if hit is None else meta[hit]

    si, ti = [info(s) for s in sources], [info(t) for t in targets]
    sim = np.full((len(sources), len(targets)), np.nan)
    for i, a in enumerate(si):
        for j, b in enumerate(ti):
            if a is not None and b is not None and a.name != b.name:
                sim[i, j] = sum(getattr(a, f) == getattr(b, f) for f in SIMILARITY_FIELDS)
    if not np.isfinite(sim).any():
        return None
    return np.where(np.isfinite(sim), sim - np.nanmean(sim), 0.0)


def _without(mask: np.ndarray, cells: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[tuple(cells.T)] = False
    return out


def _folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    k = max(2, min(k, n)) if n >= 2 else 1
    perm = np.random.default_rng(seed).permutation(n)
    return [perm[f::k] for f in range(k)] if n >= 2 else [perm]


def _factor(ratio: np.ndarray, coverage: float, z: float) -> float | None:
    """z-units per spread unit: the split-conformal quantile of |residual| / spread, i.e. the
    ⌈(n + 1)·coverage⌉-th smallest of n, which stays honest with a few dozen residuals where the
    plain empirical quantile under-covers."""
    n = len(ratio)
    if n < MIN_RESIDUALS:
        return None
    k = min(n, math.ceil((n + 1) * coverage))
    return float(np.sort(ratio)[k - 1] / z)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _npdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _num(x) -> float | None:
    return None if not np.isfinite(x) else round(float(x), 6)


@contextmanager
def _quiet():
    """Silence numpy's 'Mean of empty slice' warnings: empty cells are NaN on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
