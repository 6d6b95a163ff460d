"""``pgfselect train``: train a recipe's planned mixture and its baselines, same budget and seeds."""

from __future__ import annotations

import click

from ..errors import PGFSelectError
from ..fileio import check_output
from ..recipes.runner import RecipeRunner
from ..recipes.schema import load_recipe
from ..wording import plural
from .common import console, echo_json, format_option, quiet_option


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False),
              help="Output folder: recipe.yaml, runs/STRATEGY/seed_K/{item_ids.jsonl, metrics.json, ...}.")
@click.option("--validate", is_flag=True, help="Check the recipe and show every run's mixture; train nothing.")
@click.option("--only", multiple=True, metavar="STRATEGY[:SEED]",
              help="Run only these strategies, or one seed of one as STRATEGY:SEED (repeatable; e.g. to split "
                   "a recipe over processes).")
@click.option("--force", is_flag=True, help="Recompute into a folder made by a different recipe.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where built tiny bases are cached (default: $PGFSELECT_CACHE_DIR, else the output folder).")
@format_option
@quiet_option
def train(recipe, out_dir, validate, only, force, cache_dir, fmt, quiet):
    """Train RECIPE: the planned mixture and every baseline, under one budget and several seeds.

    Each (strategy, seed) run samples its items with a recorded seed, writes the exact item ids,
    finetunes with the measurement engine (TRL + PEFT), and scores the target's evaluation items
    (the same items for every run). Finished runs are reused on rerun. Then compare them with
    `pgfselect compare OUT`.

    \b
    Example:
      pgfselect train recipes/verify-tiny.yaml --validate
      pgfselect train recipes/verify-tiny.yaml --out runs/verify
      pgfselect compare runs/verify
      pgfselect train recipes/verify-tiny.yaml --out runs/verify --only pgf --only direct:0
    """
    if out_dir:
        check_output(out_dir, "--out", kind="folder", inputs={"RECIPE": recipe},
                     writes=("recipe.yaml", "summary.json"))
    if cache_dir:
        check_output(cache_dir, "--cache-dir", kind="folder", inputs={"RECIPE": recipe})
    loaded = load_recipe(recipe)
    runner = RecipeRunner(loaded, out_dir, force=force, cache_dir=cache_dir, only=only or None,
                          progress=not quiet and fmt != "json")
    if validate:
        _print_validation(loaded, runner.validate(), fmt, quiet)
        return
    if not out_dir:
        raise PGFSelectError("--out FOLDER is required to train (or use --validate)")

    summary = runner.run()
    if fmt == "json":
        echo_json(summary)
    elif not quiet:
        _print_summary(summary)


def _print_validation(loaded, res, fmt, quiet):
    doc = {"valid": True, "recipe": loaded.source, **res.as_dict()}
    if fmt == "json":
        echo_json(doc)
        return
    if quiet:
        return
    from rich.table import Table

    r = loaded.recipe

    table = Table(title=f"{loaded.source}: target {res.target_id}, budget {plural(r.budget, 'example')}, "
                        f"{plural(len(r.seeds), 'seed')}, matrix {res.matrix.name} — valid", title_justify="left")
    for col in ("strategy", "seed", "examples per source", "expected PGF"):
        table.add_column(col)
    for run in res.runs:
        mix = ", ".join(f"{t} {n}" for t, n in run.allocation.items()) or "(no training)"
        table.add_row(run.strategy, "-" if run.seed is None else str(run.seed), mix,
                      "" if run.expected_pgf is None else f"{run.expected_pgf:+.3f}")
    con = console()
    con.print(table)
    con.print(f"evaluation: {', '.join(res.eval_tasks)} ({r.evaluation.split} split, "
              f"{r.evaluation.n_items or 'all'} items, seed {r.evaluation.seed}); recipe hash {res.recipe_hash}")
    for w in res.warnings:
        con.print(f"warning: {w}")


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"{summary['out_dir']}: {summary['computed']} runs computed, {summary['reused']} reused "
                        f"in {summary['seconds']:.1f} s", title_justify="left")
    for col in ("strategy", "seed", "examples", f"accuracy on {summary['target']}", "status"):
        table.add_column(col)
    for run in summary["runs"]:
        acc = "" if run["accuracy"] is None else f"{run['accuracy']:.3f} ({run['correct']}/{run['n']})"
        table.add_row(run["strategy"], "-" if run["seed"] is None else str(run["seed"]), str(run["examples"]), acc,
                      run["status"] or "")
    con = console()
    con.print(table)
    for w in summary["warnings"]:
        con.print(f"warning: {w}")
    con.print(f"next: pgfselect compare {summary['out_dir']}")
