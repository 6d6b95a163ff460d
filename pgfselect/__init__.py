"""pgfselect: choose finetuning data for vision-language models with the Perfection Gap Factor.

Public API (GPU-free)::

    import pgfselect as pgf
    m = pgf.load_matrix("published:qwen2.5-vl-7b")
    planner = pgf.MixturePlanner(target="counting", budget="2k").fit(m)
    planner.allocation_   # {'Multi-view_Reasoning': ..., ...}
    pgf.TransferAnalysis().fit(m)             # transferability, malleability, cliques, personas
    pgf.MatrixCompleter().fit(partial)        # unmeasured cells with calibrated error bars
    pgf.suggest(partial, "counting", 3)       # which finetunes to run next
"""

from .analysis import TransferAnalysis
from .errors import PGFSelectError
from .matrix import PUBLISHED, PGFMatrix, load as load_matrix
from .plan import MixturePlanner, plan
from .plan.saturation import fit_saturation
from .predict import MatrixCompleter, suggest
from .version import __version__

__all__ = ["PGFMatrix", "PGFSelectError", "MixturePlanner", "MatrixCompleter", "PUBLISHED", "TransferAnalysis",
           "fit_saturation", "load_matrix", "plan", "suggest", "__version__"]
