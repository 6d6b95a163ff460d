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

from .completer import MatrixCompleter, complete
from .matrices import complete_for_analysis, empty_like, filled_values, with_all_sources
from .model import (COL_ALPHAS, DEFAULT_ALPHA, MIN_OVERLAP, PRIOR_ALPHAS, PRIOR_ONLY_FACTOR, ROW_ALPHAS,
                    task_similarity)
from .suggest import Suggestion, suggest

__all__ = ["COL_ALPHAS", "DEFAULT_ALPHA", "MIN_OVERLAP", "MatrixCompleter", "PRIOR_ALPHAS", "PRIOR_ONLY_FACTOR",
           "ROW_ALPHAS", "Suggestion", "complete", "complete_for_analysis", "empty_like", "filled_values",
           "suggest", "task_similarity", "with_all_sources"]
