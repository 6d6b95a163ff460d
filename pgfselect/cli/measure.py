"""``pgfselect measure``: measure a PGF matrix for a model and tasks (resumable)."""

from __future__ import annotations

import sys

import click

from .common import console, echo_json, format_option, quiet_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: matrix.csv, predictions.csv, run.json, cell cache, adapters.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run cells in this process, or as Ray tasks (one cell per task, num_gpus=1 on GPUs).")
@click.option("--address", default=None, help="Ray cluster address ('auto', 'ray://host:10001'); "
              "default: start a local Ray instance.")
@click.option("--force", is_flag=True, help="Measure into a folder that holds another config's cells "
              "(they are kept aside and never reused).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where built tiny bases are cached (default: the output folder, or $PGFSELECT_CACHE_DIR).")
@click.option("--dry-run", is_flag=True, help="Validate the config and list the cells to run; train nothing.")
@format_option
@quiet_option
def measure(config, out_dir, executor, address, force, cache_dir, dry_run, fmt, quiet):
    """Measure the PGF matrix of CONFIG's model on CONFIG's tasks.

    Evaluates the model zero-shot, finetunes one adapter per (source task, seed) with TRL and
    PEFT, scores every model on every task by the option letters' logits, and writes
    OUT/matrix.csv for `analyze` and `plan --matrix OUT`. Each finished cell is cached at once:
    a killed run resumes where it stopped; a changed config never reuses old cells.

    \b
    Example:
      pgfselect measure recipes/measure-tiny.yaml --out runs/tiny
      pgfselect analyze --matrix runs/tiny
      pgfselect measure recipes/measure-synthetic.yaml --out runs/grid --executor ray --address auto
    """
    from ..measure.cache import CellCache
    from ..measure.config import load_config
    from ..measure.engine import cells_of

    cfg = load_config(config)
    if dry_run:
        cache = CellCache(out_dir, cfg.config_hash())
        cells = cells_of(cfg)
        todo = [str(c) for c in cells if cache.get(c) is None]
        doc = {"config_hash": cfg.config_hash(), "cells": len(cells), "to_run": todo,
               "reusable": len(cells) - len(todo)}
        if fmt == "json":
            echo_json(doc)
        else:
            click.echo(f"config {config} (hash {doc['config_hash']}): {len(cells)} cells, "
                       f"{doc['reusable']} already finished, {len(todo)} to run")
        return

    from ..measure.engine import measure as run_measure
    from ..measure.executors import make_executor

    summary = run_measure(cfg, out_dir, executor=make_executor(executor, address), force=force,
                          cache_dir=cache_dir, show_progress=not quiet and fmt != "json")
    if fmt == "json":
        echo_json(summary.as_dict())
    elif not quiet:
        con = console()
        con.print(f"{summary.computed} cells computed, {summary.reused} reused, {len(summary.failed)} failed "
                  f"of {summary.total} in {summary.seconds:.1f} s")
        if summary.matrix:
            con.print(f"matrix: {summary.matrix}")
    for f in summary.failed:
        click.echo(f"error: cell {f['cell']} failed: {f['error']}", err=True)
    if summary.failed:
        sys.exit(1)
