"""``pgfselect measure``: measure a PGF matrix for a model and tasks (resumable)."""

from __future__ import annotations

import sys

import click

from ..errors import PGFSelectError
from ..fileio import check_output
from ..matrix import load
from ..measure import engine
from ..measure.adaptive import measure_adaptive, pending_adaptive
from ..measure.config import load_config
from ..measure.executors import make_executor as _make_executor
from ..wording import plural
from . import as_flags
from .common import console, echo_json, format_option, quiet_option


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder: matrix.csv, predictions.csv, run.json, cell cache, adapters.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run cells in this process, or as Ray tasks (one cell per task, num_gpus=1 on GPUs).")
@click.option("--address", default=None, help="Ray cluster address ('auto', 'ray://host:10001'); "
              "default: start a local Ray instance.")
@click.option("--max-retries", type=click.IntRange(0, 10), default=None,
              help="With --executor ray: retries of a cell whose worker crashed or ran out of memory "
              "[default: 2]; a cell that still fails is listed and the others go on.")
@click.option("--gpus-per-cell", type=click.FloatRange(min=0, min_open=True), default=None,
              help="With --executor ray: GPUs each cell gets [default: 1 where the cluster has GPUs]; "
              "more than 1 with model.device_map: auto spreads one large model over them.")
@click.option("--force", is_flag=True, help="Measure into a folder that holds another config's cells "
              "(they are kept aside and never reused).")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where built tiny bases are cached (default: the output folder, or $PGFSELECT_CACHE_DIR).")
@click.option("--dry-run", is_flag=True, help="Validate the config and list the cells to run; train nothing.")
@click.option("--adaptive", is_flag=True, help="Measure only the sources that matter for --target: suggest → "
              "measure (all seeds) → refit, until --max-finetunes or the plan stops changing.")
@click.option("--target", default=None, help="With --adaptive: the target task.")
@click.option("--max-finetunes", type=int, default=None, help="With --adaptive: most new sources to finetune.")
@click.option("--prior", "priors", multiple=True, metavar="MATRIX",
              help="With --adaptive: other matrices (e.g. published:qwen2.5-vl-3b) used to predict and rank.")
@click.option("--budget", default="2k", show_default=True, help="With --adaptive: the budget the plan is made for.")
@format_option
@quiet_option
def measure(config, out_dir, executor, address, max_retries, gpus_per_cell, force, cache_dir, dry_run, adaptive,
            target, max_finetunes, priors, budget, fmt, quiet):
    """Measure the PGF matrix of CONFIG's model on CONFIG's tasks.

    Evaluates the model zero-shot, finetunes one adapter per (source task, seed) with TRL and
    PEFT, scores every model on every task by the option letters' logits, and writes
    OUT/matrix.csv for `analyze` and `plan --matrix OUT`. Each finished cell is cached at once:
    a killed run resumes where it stopped; a changed config never reuses old cells.

    \b
    Example:
      pgfselect measure recipes/measure-tiny.yaml --dry-run --out runs/tiny
      pgfselect measure recipes/measure-tiny.yaml --out runs/tiny
      pgfselect analyze --matrix runs/tiny --out reports/tiny
      pgfselect measure recipes/measure-synthetic.yaml --out runs/grid --executor ray --address auto
      pgfselect measure recipes/measure-synthetic.yaml --out runs/ct --adaptive --target counting \\
          --max-finetunes 4 --prior published:qwen2.5-vl-3b
    """
    check_output(out_dir, "--out", kind="folder", inputs={"CONFIG": config, "--prior": priors},
                 writes=("matrix.csv", "predictions.csv", "run.json", "config.yaml", "adaptive.json"))
    if cache_dir:
        check_output(cache_dir, "--cache-dir", kind="folder", inputs={"CONFIG": config})
    cfg = load_config(config)
    if dry_run:
        _dry_run(cfg, config, out_dir, adaptive, target, max_finetunes, fmt)
        return

    ray_options = {key: value for key, value in (("max_retries", max_retries), ("num_gpus_per_cell", gpus_per_cell))
                   if value is not None}
    if ray_options and executor != "ray":
        flags = {"max_retries": "--max-retries", "num_gpus_per_cell": "--gpus-per-cell"}
        raise PGFSelectError(f"{' and '.join(flags[k] for k in ray_options)} applies only to --executor ray")

    def make_executor(name, address):
        return _make_executor(name, address, **ray_options)

    if adaptive:
        _adaptive(cfg, out_dir, target, max_finetunes, priors, budget, make_executor(executor, address),
                  force, cache_dir, fmt, quiet)
        return
    if target or max_finetunes or priors:
        raise PGFSelectError("--target, --max-finetunes and --prior go with --adaptive")

    summary = engine.measure(cfg, out_dir, executor=make_executor(executor, address), force=force,
                          cache_dir=cache_dir, show_progress=not quiet and fmt != "json")
    if fmt == "json":
        echo_json(summary.as_dict())
    elif not quiet:
        con = console()
        con.print(f"{summary.computed} cells computed, {summary.reused} reused, {len(summary.failed)} failed "
                  f"of {summary.total} in {summary.seconds:.1f} s"
                  + (f"; {len(summary.degenerate)} degenerate-cell warning(s) below" if summary.degenerate else ""))
        if summary.matrix:
            con.print(f"matrix: {summary.matrix}")
    _warn_degenerate(summary.degenerate)
    for f in summary.failed:
        click.echo(f"error: cell {f['cell']} failed: {f['error']}", err=True)
    if summary.failed:
        sys.exit(1)


def _dry_run(cfg, config, out_dir, adaptive, target, max_finetunes, fmt):
    """List the cells a run would compute (with --adaptive: the first round's, and the most the
    loop may add)."""
    if adaptive:
        if not target or max_finetunes is None:
            raise PGFSelectError("--adaptive needs --target and --max-finetunes")
        doc = pending_adaptive(cfg, out_dir, target, max_finetunes)
    else:
        doc = engine.pending(cfg, out_dir)
    if fmt == "json":
        echo_json(doc)
        return
    todo = doc["to_run"]
    click.echo(f"config {config} (hash {doc['config_hash']}): {plural(doc['cells'], 'cell')}"
               f"{' in the first round' if adaptive else ''}, {doc['reusable']} already finished, "
               f"{len(todo)} to run{':' if todo else ''}")
    for cell in todo:
        click.echo(f"  {cell}")
    if adaptive:
        click.echo(f"then at most {plural(max_finetunes, 'source')} × {plural(len(cfg.seeds), 'seed')} = "
                   f"{plural(doc['at_most_more'], 'finetune')} more, chosen by suggest for {doc['target']}")


def _warn_degenerate(found: list[dict]) -> None:
    """Failed finetunes (no prediction changed, own task not learned) on stderr, even with --quiet:
    a row of PGF 0 from them reads like 'no transfer' in matrix.csv. With --format json they are
    the summary's ``degenerate`` list too."""
    rows = [d for d in found if d["kind"] == "row_identical_to_base"]
    for d in found:
        click.echo(f"warning: {d['warning']}", err=True)
    if rows:
        click.echo(f"warning: {len(rows)} finetune(s) changed no prediction at all; their rows in the matrix are "
                   "not measurements of transfer. Train longer or at a higher learning rate "
                   "(docs/notes/tiny-learnability.md: settings the tiny model learns with)", err=True)


def _adaptive(cfg, out_dir, target, max_finetunes, priors, budget, executor, force, cache_dir, fmt, quiet):
    if not target or max_finetunes is None:
        raise PGFSelectError("--adaptive needs --target and --max-finetunes")
    say = (lambda msg: None) if quiet or fmt == "json" else (lambda msg: click.echo(msg, err=True))
    doc = measure_adaptive(cfg, out_dir, target, max_finetunes, priors=[load(p) for p in priors], budget=budget,
                           executor=executor, force=force, cache_dir=cache_dir,
                           show_progress=not quiet and fmt != "json", log=say)
    _warn_degenerate(doc["steps"][-1].get("degenerate", []))
    if fmt == "json":
        echo_json(doc)
        return
    last = doc["steps"][-1]
    click.echo(f"adaptive measurement for {doc['target']}: {len(last['measured'])} source(s) measured "
               f"({doc['finetunes']} finetunes); {as_flags(last['stopped'], click.get_current_context().command)}")
    plan = last["plan"] or {}
    if "allocation" in plan:
        click.echo("plan: " + ", ".join(f"{s} {n}" for s, n in plan["allocation"].items()))
    elif "error" in plan:
        click.echo(f"no plan yet: {plan['error']}")
