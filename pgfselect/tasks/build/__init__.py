"""``pgfselect tasks build``: BLINK-style training sets from the public datasets BLINK was built
from, read in their official layouts (see data_cards/built-tasks.md).

One module per source family registers its builders (base.register); importing this package
imports them all, so ``BUILDERS`` is complete.
"""

from . import coco, correspondence, depth, images, reflectance, similarity, spatial  # noqa: F401  (registration)
from .base import ABSENT, BUILDERS
from .card import builder_rows
from .run import build_task, get_builder

__all__ = ["ABSENT", "BUILDERS", "build_task", "builder_rows", "get_builder"]
