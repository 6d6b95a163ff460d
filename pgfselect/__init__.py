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

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pgfselect")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

from .analysis import TransferAnalysis  # noqa: E402
from .errors import PGFSelectError  # noqa: E402
from .matrix import PUBLISHED, PGFMatrix, load as load_matrix  # noqa: E402
from .plan import MixturePlanner, plan  # noqa: E402
from .plan.saturation import fit_saturation  # noqa: E402
from .predict import MatrixCompleter, suggest  # noqa: E402

__all__ = ["PGFMatrix", "PGFSelectError", "MixturePlanner", "MatrixCompleter", "PUBLISHED", "TransferAnalysis",
           "fit_saturation", "load_matrix", "plan", "suggest", "__version__"]
