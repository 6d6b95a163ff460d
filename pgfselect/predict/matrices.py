"""Matrix utilities around completion: every target as a (maybe unmeasured) source row, an empty
matrix like another, and completed per-seed values for ``analyze --complete``."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import PGFSelectError
from ..matrix import UNMEASURED, PGFMatrix
from .completer import MatrixCompleter


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
