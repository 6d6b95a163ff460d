"""``pgfselect mix``: a plan's items as a dataset any trainer reads (LLaVA JSON, messages, hf)."""

from __future__ import annotations

import click

from ..errors import PGFSelectError
from ..mixdata import mix as run_mix
from .common import echo_json, quiet_option


def _task_map(pairs) -> dict:
    out = {}
    for pair in pairs:
        name, sep, tid = pair.partition("=")
        if not sep or not name.strip() or not tid.strip():
            raise PGFSelectError(f"--tasks {pair!r} must be NAME=SOURCE:NAME, e.g. Counting=custom:data/ct/task.yaml")
        out[name.strip()] = tid.strip()
    return out


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("plan_path", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Output folder (new or empty).")
@click.option("--format", "fmt", type=click.Choice(["llava", "messages", "hf"]),
              default="llava", show_default=True,
              help="llava: data.json + images/; messages: a datasets folder (TRL messages, images, id, task) "
                   "+ the LLaVA files; hf: a datasets folder of pgfselect's columns.")
@click.option("--task-prefix", help="Prefix that turns the plan's source names into task ids, e.g. 'synthetic:'.")
@click.option("--tasks", "tasks", multiple=True, metavar="NAME=ID",
              help="Map one source name to a task id (repeatable), e.g. Counting=custom:data/ct/task.yaml.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="The recipe seed: --seed S holds the items train's seed-S run of this plan trains on.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the summary (mix.json's content) as JSON; --format names the dataset format here.")
@quiet_option
def mix(plan_path, out, fmt, task_prefix, tasks, seed, as_json, quiet):
    """Write the items a PLAN allocates (exactly its count per source, drawn as `pgfselect train`
    draws them) as a dataset for TRL, LLaMA-Factory, ms-swift or LLaVA, plus mix.json.

    \b
    Example:
      pgfselect plan -t Counting -b 300 --out plan.yaml
      pgfselect mix plan.yaml --task-prefix synthetic: --format llava --out mix/
      pgfselect mix plan.yaml --task-prefix synthetic: --format messages --out mix-trl/
    """
    result = run_mix(plan_path, out, fmt, seed=seed, task_prefix=task_prefix, tasks=_task_map(tasks))
    if as_json:
        echo_json(result)
    elif not quiet:
        counts = ", ".join(f"{d['source']} {d['n']}" for d in result["sources"])
        click.echo(f"wrote {result['examples']} examples ({counts}) as {fmt} to {out}")
