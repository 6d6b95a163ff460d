"""Which sources to finetune next for a target: expected improvement over the current top-k
under the completed mean and std (the acquisition of ``measure --adaptive``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import PGFSelectError
from ..matrix import PGFMatrix
from ..names import resolve
from .completer import MatrixCompleter
from .matrices import with_all_sources
from .model import _ncdf, _npdf, _resolve_target


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
        raise PGFSelectError(f"n_finetunes must be a whole number ≥ 1, got {n_finetunes!r}")
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
            f"n_finetunes {n_finetunes} is more than the {len(candidates)} source(s) available for {t} "
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
