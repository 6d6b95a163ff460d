"""The one matplotlib set-up: pyplot on the Agg backend (no display needed), figures to PNG bytes.
matplotlib is imported on first use: the GPU-free commands that draw nothing never load it."""

from __future__ import annotations

import io


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib  # heavy: loaded on first use

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig, dpi: float | None = None) -> bytes:
    """``fig`` as PNG (tight bounding box), then closed."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", **({} if dpi is None else {"dpi": dpi}))
    pyplot().close(fig)
    return buf.getvalue()
