"""pgfselect: choose finetuning data for vision-language models with the Perfection Gap Factor.

Public API (GPU-free)::

    import pgfselect as pgf
    m = pgf.load_matrix("published:qwen2.5-vl-7b")
    planner = pgf.MixturePlanner(target="counting", budget="2k").fit(m)
    planner.allocation_   # {'Multi-view_Reasoning': ..., ...}
"""

__version__ = "0.1.0"

from .errors import PGFSelectError  # noqa: E402
from .matrix import PUBLISHED, PGFMatrix, load as load_matrix  # noqa: E402
from .plan import MixturePlanner, plan  # noqa: E402

__all__ = ["PGFMatrix", "PGFSelectError", "MixturePlanner", "PUBLISHED", "load_matrix", "plan", "__version__"]
