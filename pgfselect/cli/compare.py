"""``pgfselect compare``: the strategies of ``pgfselect train`` runs, with honest uncertainty."""

from __future__ import annotations

from pathlib import Path

import click

from ..compare import compare as compare_runs, load_runs, plot
from ..errors import PGFSelectError
from ..fileio import check_output
from ..verdict import read_comparison
from ..wording import plural
from .common import console, echo_json, format_option, quiet_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path())
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="PNG to write (default: RUN_DIR/compare.png of the first folder).")
@click.option("--no-plot", is_flag=True, help="Write no plot.")
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level of the intervals.")
@click.option("--task", default=None, metavar="TASK",
              help="Compare on another evaluated task than the target (recipes with evaluation.tasks: all).")
@format_option
@quiet_option
def compare(run_dirs, plot_path, no_plot, level, task, fmt, quiet):
    """Compare the strategies of one or more `pgfselect train --out` folders.

    Per strategy: mean accuracy on the target with its t-interval over seeds, gain over
    zero-shot, paired differences against `direct` and `random` on matching seeds (paired
    t-test and Wilcoxon p-values), the plan's predicted accuracy against the observed one, and a
    power check that warns when the seeds are too few to detect the predicted difference.
    `--format json` prints a list of rows (strategy, mean, ci_low, ci_high, n_seeds, ...).

    \b
    Example:
      pgfselect compare runs/verify
      pgfselect compare runs/verify --format json --no-plot
      pgfselect compare runs/seeds-0-1 runs/seeds-2-3 --plot counting.png
      pgfselect compare runs/counting-2k --task jigsaw
    """
    if not 0 < level < 1:
        raise PGFSelectError(f"--level {level} must be between 0 and 1 (e.g. 0.95)")
    if plot_path is not None and no_plot:
        raise PGFSelectError("--plot and --no-plot contradict each other")

    target = None if no_plot else plot_path if plot_path is not None else Path(run_dirs[0]) / "compare.png"
    if target is not None:
        target = check_output(target, "--plot" if plot_path is not None else "the default plot",
                              suffixes={".png": "PNG"})
    runs = load_runs(run_dirs, task=task)
    rows = compare_runs(runs, level=level)
    written = None
    if target is not None:
        written = plot(rows, target)
    if fmt == "json":
        echo_json(rows)
    elif not quiet:
        _print_table(rows, level, written, read_comparison(rows, runs))


def _pct(v) -> str:
    return "" if v is None else f"{v:.1%}"


def _diff(d: dict | None) -> str:
    if not d:
        return ""
    ci = f" [{d['ci_low']:+.1%}, {d['ci_high']:+.1%}]" if d["ci_low"] is not None else ""
    p = f" p={d['p_t']:.3g}" if d["p_t"] is not None else ""
    return f"{d['mean_diff']:+.1%}{ci}{p}"


def _print_table(rows: list[dict], level: float, written, reading=()) -> None:
    from rich.table import Table

    table = Table(title=f"target {rows[0]['target']}: accuracy over seeds, {level:.0%} t-intervals "
                        f"({plural(rows[0]['n_eval'], 'evaluation item')})", title_justify="left")
    for col in ("strategy", "seeds", "mean", f"{level:.0%} CI", "Δ zero-shot", "vs direct (paired)",
                "vs random (paired)", "PGF predicted → observed"):
        table.add_column(col, justify="left" if col in ("strategy",) else "right")
    for r in rows:
        ci = f"[{_pct(r['ci_low'])}, {_pct(r['ci_high'])}]" if r["ci_low"] is not None else "—"
        gain = "" if r["gain_vs_zero_shot"] is None or r["strategy"].endswith("zero_shot") \
            else f"{r['gain_vs_zero_shot']:+.1%}"
        pgf = ""
        if r["observed_pgf"] is not None and not r["strategy"].endswith("zero_shot"):
            pred = "—" if r["predicted_pgf"] is None else f"{r['predicted_pgf']:+.3f}"
            pgf = f"{pred} → {r['observed_pgf']['mean']:+.3f}"
        table.add_row(r["strategy"], str(r["n_seeds"]), _pct(r["mean"]), ci, gain, _diff(r["vs_direct"]),
                      _diff(r["vs_random"]), pgf)
    con = console()
    con.print(table)
    for r in rows:
        for w in r["warnings"]:
            con.print(f"warning: {r['strategy']}: {w}")
    for line in reading:
        con.print(f"reading: {line}")
    if written:
        con.print(f"plot: {written}")
