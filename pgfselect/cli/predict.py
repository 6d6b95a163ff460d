"""``pgfselect predict`` (complete a partial matrix, with error bars) and ``pgfselect suggest``
(which sources to finetune next for a target)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import PGFSelectError
from ..fileio import atomic_write, check_output
from ..matrix import load
from ..names import short_label
from ..predict import empty_like, MatrixCompleter, suggest as suggest_sources, with_all_sources
from .common import console, echo_json, grid_table, quiet_option

prior_option = click.option(
    "--prior", "priors", multiple=True, metavar="MATRIX",
    help="Another matrix used as a prior for values and ranking: a smaller model of the same family or "
         "the same tasks on another model (published:ID, folder or file). Repeatable.")


def _load_priors(specs) -> list:
    if len(set(specs)) != len(specs):
        dup = sorted({s for s in specs if specs.count(s) > 1})
        raise PGFSelectError(f"--prior given more than once: {', '.join(dup)}")
    return [load(s) for s in specs]


def _notes(completer, quiet: bool) -> None:
    if not quiet:
        for note in completer.notes_:
            click.echo(f"note: {note}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("matrix_spec", metavar="MATRIX")
@prior_option
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the completed matrix: .json → JSON, .csv → CSV "
                   "(source,target,mean,std,measured).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="Output on stdout: a grid marking predicted cells with their ± error, JSON, or CSV.")
@quiet_option
def predict(matrix_spec, priors, out, fmt, quiet):
    """Complete a partial PGF matrix: estimate every unmeasured cell with a calibrated std.

    Cells absent from the file are unmeasured (never read as 0). The model is a ridge row + column
    model fitted to the measured off-diagonal cells (strengths by cross-validation), with a
    BLINK task-similarity term, the diagonal (self-transfer) apart; priors add their column level
    and within-column ranking. A predicted
    cell's mean ± 1.645·std holds about 90% of held-out cells on the published matrices
    (benchmarks/RESULTS.md). Measured cells keep their seed mean and seed std. Predictions are
    estimates for choosing what to measure, not measurements.

    \b
    Example:
      pgfselect predict partial.csv --prior published:qwen2.5-vl-3b
      pgfselect predict runs/7b --format csv --out completed.csv
      pgfselect predict partial.csv --prior published:qwen2.5-vl-3b --prior published:qwen2.5-vl-7b --format json
    """
    if out is not None:
        check_output(out, "--out", suffixes={".csv": "CSV", ".json": "JSON"},
                     inputs={"MATRIX": matrix_spec, "--prior": priors})
    matrix = with_all_sources(load(matrix_spec))
    completer = MatrixCompleter().fit(matrix, _load_priors(priors))
    _notes(completer, quiet)
    if out:
        atomic_write(out, completer.to_json() if out.suffix.lower() == ".json" else completer.to_csv())
    if fmt == "json":
        echo_json({"matrix": matrix.name, **completer.to_dict()})
    elif fmt == "csv":
        click.echo(completer.to_csv(), nl=False)
    else:
        _print_grid(completer, matrix.name)
    if out and not quiet:
        click.echo(f"wrote {out}", err=True)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("matrix_spec", metavar="[MATRIX]", required=False)
@click.option("--target", "-t", required=True, help="The target task (alias or name, case-insensitive).")
@click.option("--finetunes", "-n", "n_finetunes", required=True, metavar="N",
              help="How many sources to finetune next (each finetune measures a whole row).")
@prior_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="Output format: a readable table or JSON (keys target, suggest, reasons, ...).")
@quiet_option
def suggest(matrix_spec, target, n_finetunes, priors, fmt, quiet):
    """Name the sources to finetune next (on your model) so the plan for TARGET becomes reliable.

    A plan leans on the target's best few sources, so each source whose cell for the target is not
    measured yet is scored by its expected improvement over the current 3rd-best value of the
    column (high predicted PGF, high uncertainty, or both), best first, never the target itself.
    Without MATRIX (nothing measured yet on your model) the priors' tasks are used and the
    ranking is theirs.

    \b
    Example:
      pgfselect suggest --target counting --finetunes 5 --prior published:qwen2.5-vl-3b
      pgfselect suggest partial.csv -t OL -n 3 --prior published:qwen2.5-vl-7b --format json
    """
    n = _count(n_finetunes)
    prior_mats = _load_priors(priors)
    if matrix_spec is None:
        if not prior_mats:
            raise PGFSelectError("give a MATRIX with measured cells, or at least one --prior to start from")
        matrix = empty_like(prior_mats[0])
        matrix.name = "(nothing measured)"
    else:
        matrix = load(matrix_spec)
    result = suggest_sources(matrix, target, n, prior_mats)
    _notes(result.completer, quiet)
    if fmt == "json":
        echo_json({**result.to_dict(), "matrix": matrix.name})
        return
    from rich.table import Table

    table = Table(title=f"next {n} finetune(s) for target {result.target} (matrix {matrix.name})",
                  title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("source")
    table.add_column("why")
    for k, (src, why) in enumerate(zip(result.sources, result.reasons), start=1):
        table.add_row(str(k), src, why)
    console().print(table)


def _count(text) -> int:
    try:
        n = int(str(text).strip())
    except ValueError:
        raise PGFSelectError(f"--finetunes {text!r} is not a whole number; give N ≥ 1") from None
    if n <= 0:
        raise PGFSelectError(f"--finetunes must be ≥ 1, got {n}")
    return n


def _print_grid(c, name: str) -> None:
    """Sources × targets; measured cells plain, predicted ones italic with '~' and their ± std."""
    def cell(i, j):
        if c.undefined_[i, j]:
            return "[dim]undef[/dim]"
        if c.measured_[i, j]:
            return f"{c.mean_[i, j]:+.2f}"
        return f"[italic yellow]~{c.mean_[i, j]:+.2f}\n±{c.std_[i, j]:.2f}[/italic yellow]"

    n_pred = int(c.predicted_.sum())
    table = grid_table(f"completed PGF matrix {name}: {int(c.measured_.sum())} measured, {n_pred} predicted "
                       f"(~mean ±std, 90% interval = mean ± 1.645·std)"
                       + (f"; priors: {', '.join(c.priors_)}" if c.priors_ else ""),
                       c.sources_, c.targets_, cell, corner="source \\ target",
                       row_label=lambda s: f"{s} ({short_label(s, suite=False)})", show_lines=True)
    con = console()
    con.print(table)
    if c.alpha_ is not None:
        con.print(f"ridge strengths (row, column, prior) {c.alpha_} by {c.calibration_['alpha_choice']}; "
                  f"std factors: column measured ×{c.calibration_['factor_column']}, "
                  f"column unmeasured ×{c.calibration_['factor_no_column']}")
