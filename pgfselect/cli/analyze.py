"""``pgfselect analyze``: transferability, malleability, cliques, personas, figures, report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ..analysis import analyze_matrices, PERSONAS, SIGNS, VIEWS
from ..errors import PGFSelectError
from ..fileio import check_output
from ..report import SYMBOLS, write_report
from ..wording import plural
from .common import console, echo_json, format_option, quiet_option


@click.command()
@click.option("--matrix", "matrices", multiple=True, required=True, metavar="ID_OR_PATH",
              help="Matrix to analyse: published:qwen2.5-vl-3b|7b|32b, a measure folder, or a CSV/JSON "
                   "file. Repeat to compare matrices side by side (they must hold the same tasks).")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Folder for report.md, analysis.json, heatmap_*.png, bars.png, transfer_graph.html.")
@click.option("--include-diagonal", is_flag=True,
              help="Count self-finetuning cells in transferability, malleability and persona tests "
                   "(N = all tasks). Default: excluded, N = number of other tasks.")
@click.option("--strict-cliques", is_flag=True,
              help="A clique edge needs the sign in both directions in every seed, not only in the seed mean.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Significance level of the persona tests.")
@click.option("--ci-level", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.95,
              show_default=True, help="Confidence level of the intervals over seeds.")
@click.option("--graph-threshold", type=click.FloatRange(0), default=None,
              help="Initial |PGF| filter of the transfer graph page (adjustable on the page); "
                   "default: the 12 strongest edges.")
@click.option("--complete", is_flag=True,
              help="Analyse a matrix with unmeasured cells by predicting them first (as `pgfselect predict`); "
                   "the predicted cells are listed on stderr and under 'predicted_cells' in the JSON.")
@click.option("--prior", "priors", multiple=True, metavar="MATRIX",
              help="With --complete: another matrix used as a prior for the prediction. Repeatable.")
@format_option
@quiet_option
def analyze(matrices, out_dir, include_diagonal, strict_cliques, alpha, ci_level, graph_threshold, complete, priors,
            fmt, quiet):
    """Analyse PGF matrices: which tasks give (transferability), which take (malleability),
    which groups help or hurt each other (cliques, with p-values), and the personas donor /
    pirate / sponge / sieve, with CIs over seeds. Writes a markdown report with figures and an
    interactive transfer graph that works offline. With --format json the JSON is also printed:
    one object for one matrix, an object keyed by matrix for several.

    \b
    Example:
      pgfselect analyze --matrix published:qwen2.5-vl-7b --out reports/7b
      pgfselect analyze --matrix published:qwen2.5-vl-3b --matrix published:qwen2.5-vl-32b \\
          --out reports/scale --format json
      pgfselect analyze --matrix partial.csv --complete --prior published:qwen2.5-vl-3b --out reports/new
    """
    _check_out(out_dir)
    check_output(out_dir, "--out", kind="folder", inputs={"--matrix": matrices, "--prior": priors},
                 writes=("report.md", "analysis.json"))
    say = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    analyses, doc = analyze_matrices(matrices, complete=complete, priors=priors, log=say,
                                     include_diagonal=include_diagonal, strict_cliques=strict_cliques, alpha=alpha,
                                     ci_level=ci_level)
    say("drawing figures")
    files = write_report(analyses, out_dir, graph_threshold=graph_threshold)
    if fmt == "json":
        echo_json(doc)
    elif not quiet:
        _print_tables(analyses)
    say(f"wrote {', '.join(files)} to {out_dir}")


def _check_out(out: Path) -> None:
    """Refuse an unusable --out before any work, and without creating anything."""
    if out.exists() and not out.is_dir():
        raise PGFSelectError(f"--out {str(out)!r} exists and is not a folder")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise PGFSelectError(f"--out {str(out)!r} is not writable (no write permission on {str(existing)!r})")


def _print_tables(analyses) -> None:
    from rich.table import Table

    con = console()
    for a in analyses:
        labels = a.personas()
        table = Table(title=f"{a.name_} ({len(a.tasks_)} tasks, {plural(len(a.seeds_), 'seed')})")
        table.add_column("task")
        for view in VIEWS:
            for s in SIGNS:
                table.add_column(SYMBOLS[(view, s)], justify="right")
        table.add_column("personas")
        for k, t in enumerate(a.tasks_):
            table.add_row(t, *(f"{a.scores_[v][s][k]:+.3f}" for v in VIEWS for s in SIGNS),
                          ", ".join(p for p in PERSONAS if t in labels[p]))
        con.print(table)
        for s in SIGNS:
            for c in a.cliques_[s]:
                con.print(f"  {s} clique: {', '.join(c.tasks)}  (p = {c.p_value:.2g})")
    sys.stdout.flush()
