"""``pgfselect matrices``: the built-in (published) matrices and a look at any matrix."""

from __future__ import annotations

import math

import click
import numpy as np

from ..matrix import CITATION, DEFAULT_MATRIX, load, PUBLISHED
from ..names import short_label
from ..wording import plural
from .common import console, echo_json, format_option, grid_table


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def matrices():
    """List the built-in PGF matrices and show any matrix as a seed-mean table.

    The built-in matrices are the per-seed PGF values published by Sachdeva, Uppal, Java,
    Balasubramanian, "Understanding Task Transfer in Vision-Language Models", CVPR 2026
    (arXiv 2511.18787), shipped as package data.

    \b
    Example:
      pgfselect matrices list
      pgfselect matrices show published:qwen2.5-vl-7b --ci
    """


@matrices.command("list")
@format_option
def list_(fmt):
    """List the built-in matrices.

    \b
    Example:
      pgfselect matrices list --format json
    """
    rows = []
    for pub in PUBLISHED.values():
        m = load(pub.id)
        rows.append({"id": pub.id, "model": pub.model, "tasks": len(m.sources), "seeds": list(m.seeds),
                     "description": pub.description, "default": pub.id == DEFAULT_MATRIX})
    if fmt == "json":
        echo_json({"matrices": rows, "citation": CITATION})
        return
    from rich.table import Table

    table = Table(title="Built-in PGF matrices", title_justify="left")
    for col in ("id", "model", "tasks", "seeds", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"] + (" (default)" if r["default"] else ""), r["model"], str(r["tasks"]),
                      str(len(r["seeds"])), r["description"])
    con = console()
    con.print(table)
    con.print(f"Source: {CITATION}")


@matrices.command("show")
@click.argument("matrix_spec", metavar="MATRIX")
@click.option("--ci", is_flag=True, help="Show the 95% confidence interval of each seed mean.")
@format_option
def show(matrix_spec, ci, fmt):
    """Show a matrix: seed-mean PGF, rows = source (finetuned on), columns = target.

    MATRIX is published:ID, a measure output folder, or a .csv/.json matrix file.

    \b
    Example:
      pgfselect matrices show published:qwen2.5-vl-3b --ci
      pgfselect matrices show runs/measure-tiny --format json
    """
    m = load(matrix_spec)
    mean, std = m.mean(), m.std()
    lo, hi = m.ci()
    if fmt == "json":
        cells = [{"source": s, "target": t, "mean": _num(mean[i, j]), "std": _num(std[i, j]),
                  "ci_low": _num(lo[i, j]), "ci_high": _num(hi[i, j]),
                  "status": "measured" if m.measured[i, j] else ("undefined" if m.undefined[i, j] else "unmeasured")}
                 for i, s in enumerate(m.sources) for j, t in enumerate(m.targets)]
        echo_json({"matrix": m.name, "model": m.model, "seeds": list(m.seeds), "sources": list(m.sources),
                   "targets": list(m.targets), "cells": cells, "provenance": m.provenance})
        return
    def cell(i, j):
        if not m.measured[i, j]:
            return "undef" if m.undefined[i, j] else "·"
        colour = "green" if mean[i, j] > 0 else "red"
        text = f"[{colour}]{mean[i, j]:+.2f}[/{colour}]"
        if ci and np.isfinite(lo[i, j]):
            text += f"\n±{(hi[i, j] - lo[i, j]) / 2:.2f}"
        return text

    model = f" ({m.model})" if m.model else ""
    table = grid_table(f"{m.name}{model}: seed-mean PGF over {plural(len(m.seeds), 'seed')}, row = source, column = "
                       "target" + (", ± half-width of the 95% CI" if ci else ""), m.sources, m.targets, cell)
    con = console()
    con.print(table)
    legend = [f"{short_label(t, suite=False)} = {t}" for t in dict.fromkeys(m.sources + m.targets) if short_label(t, suite=False) != t]
    if legend:
        con.print("; ".join(legend), soft_wrap=True)
    if "citation" in m.provenance:
        con.print(f"Source: {m.provenance['citation']}")


def _num(x):
    return None if not math.isfinite(float(x)) else round(float(x), 6)
