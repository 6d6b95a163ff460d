"""The PGF matrix: the one artifact every pgfselect command reads.

PGF(i→j) = (Acc(M(T_i), T_j) − Acc(M, T_j)) / (U_j − Acc(M, T_j)), computed per seed from
correct counts (exact, ε = 0), then aggregated over seeds. ``values[seed, source, target]``.

Every cell has a status:

* ``MEASURED``   – a number;
* ``UNMEASURED`` – nobody finetuned/evaluated it (absent from the file); never read as 0;
* ``UNDEFINED``  – zero headroom: the zero-shot accuracy already equals the ceiling, so the
  ratio has no meaning. Kept explicit, so it cannot leak into a plan as 0 or NaN.

Files: a tidy CSV (one row per model, seed, source, target with counts and provenance), the same
rows as JSON, or the authors' 4-column CSV (``seed,ft_task,task,perfection_gap_factor``).
Built-in matrices are addressed as ``published:qwen2.5-vl-7b`` (also ``-3b``, ``-32b``).
"""

from .core import (AUTHORS_COLUMNS, CITATION, DEFAULT_MATRIX, MEASURED, PROVENANCE_COLUMNS, PUBLISHED, STATUS_NAMES,
                   TIDY_COLUMNS, UNDEFINED, UNMEASURED, PGFMatrix, PublishedMatrix, pgf_from_counts)
from .loading import load, load_published

__all__ = ["AUTHORS_COLUMNS", "CITATION", "DEFAULT_MATRIX", "MEASURED", "PGFMatrix", "PROVENANCE_COLUMNS",
           "PUBLISHED", "PublishedMatrix", "STATUS_NAMES", "TIDY_COLUMNS", "UNDEFINED", "UNMEASURED", "load",
           "load_published", "pgf_from_counts"]
