"""``pgfselect saturation``: fit the planner's diminishing-returns constant s for a model."""

from __future__ import annotations

import click

from ..matrix import load
from ..plan.saturation import fit_saturation
from .common import echo_json, format_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("small")
@click.argument("large")
@click.option("--n-small", type=click.IntRange(min=1), help="Training examples per finetune of SMALL "
              "(default: its provenance examples_per_task).")
@click.option("--n-large", type=click.IntRange(min=1), help="Training examples per finetune of LARGE.")
@click.option("--min-pgf", type=float, default=0.2, show_default=True,
              help="Use the cells whose seed-mean PGF at the large size is at least this.")
@format_option
def saturation(small, large, n_small, n_large, min_pgf, fmt):
    """Fit s of the planner's log(1 + x/s) from two matrices of one model measured with a small and
    a large training set per source (same schedule otherwise), e.g. two `pgfselect measure` runs
    whose configs differ only in training.examples_per_task. Pass the result to
    `pgfselect plan --saturation` or a recipe's planner.saturation.

    \b
    Example:
      pgfselect measure probe-500.yaml --out runs/n500
      pgfselect measure probe-2000.yaml --out runs/n2000
      pgfselect saturation runs/n500 runs/n2000
    """
    fit = fit_saturation(load(small), load(large), n_small, n_large, min_pgf=min_pgf)
    if fmt == "json":
        echo_json(fit.to_dict())
    else:
        click.echo(fit.summary())
