"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import json
import sys

import click

from ..fileio import json_default
from ..names import short_label

format_option = click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                             show_default=True, help="Output format: a readable table or JSON.")
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and results.")


def echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=json_default, ensure_ascii=False))


def console():
    """A rich console on stdout (imported lazily: rich costs ~0.1 s)."""
    from rich.console import Console

    # Piped output (files, CI logs) gets a wide fixed width instead of rich's 80 columns.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)


def grid_table(title: str, sources, targets, cell, *, corner: str = "source", row_label=None, **table_kw):
    """A rich table of [source, target] cells, targets as short-label columns; ``cell(i, j)``
    gives a cell's text and ``row_label(source)`` a row's (default: its short label)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", **table_kw)
    table.add_column(corner)
    for t in targets:
        table.add_column(short_label(t, suite=False), justify="right")
    label = row_label or (lambda s: short_label(s, suite=False))
    for i, s in enumerate(sources):
        table.add_row(label(s), *(cell(i, j) for j in range(len(targets))))
    return table
