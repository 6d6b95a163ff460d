"""Options and output helpers shared by the subcommands."""

from __future__ import annotations

import json
import sys

import click

from ..fileio import json_default

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
