"""``pgfselect tasks``: list, show, preview, export and import tasks (BLINK, synthetic, custom)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import PGFSelectError
from ..fileio import atomic_write, check_output
from ..tasks import format_prompt, get_task, list_tasks
from ..tasks.build import build_task, builder_rows
from ..tasks.export import export_items, FONT_HINT, png_bytes, preview_image
from ..tasks.importers import import_task
from ..wording import plural
from . import as_flags
from .common import console, echo_json, format_option, quiet_option


def task_options(f):
    """Options that choose a task's data, passed to ``get_task`` only when given."""
    opts = [
        click.option("--size", type=int, help="Synthetic: base image size in px (default 112)."),
        click.option("--difficulty", type=float, help="Synthetic: difficulty in [0, 1] (default 0: easiest)."),
        click.option("--shuffle/--no-shuffle", default=None, help="Synthetic: shuffle option order per item."),
        click.option("--blink-dir", "local_path", type=click.Path(), help="BLINK: local copy (save_to_disk folder or parquet "
                     "files); default $PGFSELECT_BLINK_DIR, else the hub."),
        click.option("--revision", help="BLINK: dataset revision (commit id) to load from the hub."),
        click.option("--train-fraction", type=float, help="BLINK: share of val carved out as a train split."),
        click.option("--manifest", type=click.Path(), help="Custom: the task's YAML manifest."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _task(task_id, size=None, difficulty=None, shuffle=None, local_path=None, revision=None, train_fraction=None,
          manifest=None):
    given = {"size": size, "difficulty": difficulty, "shuffle": shuffle, "local_path": local_path, "revision": revision,
             "train_fraction": train_fraction, "manifest": manifest}
    return get_task(task_id, **{k: v for k, v in given.items() if v is not None})


def _task_inputs(opts) -> dict:
    """The files a task is read from (an output may not write over them)."""
    return {flag: opts.get(key) for flag, key in (("--manifest", "manifest"), ("--blink-dir", "local_path"))
            if opts.get(key)}


def _check_n(n):
    if n is not None and n <= 0:
        raise PGFSelectError(f"--n {n} must be a positive number of items")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def tasks():
    """Tasks: the 13 BLINK tasks, their synthetic offline analogues, and custom tasks.

    Task ids are SOURCE:NAME: blink:Counting, synthetic:Counting (aliases work: synthetic:CT,
    synthetic:multi-view reasoning), custom:NAME or custom:path/to/task.yaml.

    \b
    Example:
      pgfselect tasks list
      pgfselect tasks show synthetic:CT
      pgfselect tasks preview synthetic:Relative_Depth --n 8 --out rd.png
      pgfselect tasks export synthetic:Counting --split train --n 100 --seed 0 --out data/ct
      pgfselect tasks build blink:Jigsaw --from images --images photos/ --n 20 --out data/jigsaw
      pgfselect tasks import llava my_counts.json --images imgs --out tasks/my-counts
    """


@tasks.command("list")
@click.option("--source", type=click.Choice(["blink", "synthetic", "custom"]), help="Only tasks of this source.")
@format_option
def list_(source, fmt):
    """List every known task (custom tasks: those in $PGFSELECT_CUSTOM_TASKS).

    \b
    Example:
      pgfselect tasks list --source synthetic
      pgfselect tasks list --format json
    """
    rows = [t.info() for t in list_tasks() if source in (None, t.source)]
    if fmt == "json":
        echo_json(rows)
        return
    from rich.table import Table

    table = Table(title="Tasks", title_justify="left")
    for col in ("id", "choices", "images", "level", "granularity", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["id"], str(r["n_choices"]), str(r["n_images"] or "-"), r["level"], r["granularity"],
                      r["description"])
    console().print(table)


@tasks.command("show")
@click.argument("task_id", metavar="ID")
@task_options
@format_option
def show(task_id, fmt, **opts):
    """Show a task: metadata, skills (synthetic), split sizes, provenance and one prompt.

    BLINK tasks are shown without loading data unless --blink-dir or $PGFSELECT_BLINK_DIR is set.

    \b
    Example:
      pgfselect tasks show synthetic:CT --difficulty 0.5
      pgfselect tasks show blink:Counting --blink-dir /data/BLINK --format json
    """
    task = _task(task_id, **opts)
    info = {**task.info(), "provenance": task.provenance()}
    if task.source != "blink" or getattr(task, "local_path", None) is not None:
        info["split_sizes"] = task.split_sizes()
        split = "val" if info["split_sizes"].get("val") != 0 else next(
            s for s, k in info["split_sizes"].items() if k != 0)
        example = task.items(split, 1, 0)[0]
        info["example_prompt"] = format_prompt(example)
        info["example_answer"] = example.answer_letter
    if fmt == "json":
        echo_json(info)
        return
    con = _console()
    if "split_sizes" in info:  # None = generated on demand, any number of items
        info["split_sizes"] = {k: "any" if v is None else v for k, v in info["split_sizes"].items()}
    for key, value in info.items():
        if key == "example_prompt":
            con.print(f"[bold]{key}[/bold]:\n{value}", markup=True, highlight=False)
        else:
            con.print(f"[bold]{key}[/bold]: {value}", markup=True, highlight=False)


def _console():
    return console()


@tasks.command("preview")
@click.argument("task_id", metavar="ID")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--n", "n", default=8, show_default=True, type=int, help="Number of items.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@task_options
@format_option
@quiet_option
def preview(task_id, split, n, seed, out, fmt, quiet, **opts):
    """Draw a grid of items (images, question, lettered options, answer) into a PNG.

    \b
    Example:
      pgfselect tasks preview synthetic:Counting --n 8 --out ct.png
    """
    _check_n(n)
    check_output(Path(out), "--out", suffixes={".png": "PNG"}, inputs=_task_inputs(opts))
    task = _task(task_id, **opts)
    image = preview_image(task, split, n, seed)
    atomic_write(out, png_bytes(image))
    result = {"task": task.id, "split": split, "n": n, "seed": seed, "out": out}
    if image.info.get("missing_glyphs"):
        result["missing_glyphs"] = image.info["missing_glyphs"]
        click.echo(f"note: no installed font can draw {result['missing_glyphs'][:20]!r}: they show as boxes in "
                   f"{out}; {FONT_HINT}", err=True)
    if fmt == "json":
        echo_json(result)
    elif not quiet:
        click.echo(f"wrote {out} ({plural(n, 'item')} of {task.id}, {split}, seed {seed})")


@tasks.command("export")
@click.argument("task_id", metavar="ID")
@click.option("--split", default="train", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--n", "n", type=int, help="Number of items (default: the split's default size).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@task_options
@format_option
@quiet_option
def export(task_id, split, n, seed, out, fmt, quiet, **opts):
    """Export items as items.jsonl + PNG files (+ a task.yaml manifest: the folder loads back
    as custom:OUT/task.yaml). The same arguments give byte-identical files.

    \b
    Example:
      pgfselect tasks export synthetic:Counting --split train --n 500 --seed 0 --out data/ct-train
      pgfselect tasks show custom:data/ct-train/task.yaml
    """
    _check_n(n)
    inputs = _task_inputs(opts)
    if task_id.startswith("custom:") and task_id.split(":", 1)[1].endswith((".yaml", ".yml")):
        inputs["ID"] = task_id.split(":", 1)[1]
    check_output(out, "--out", kind="folder", inputs=inputs, replace=True)
    task = _task(task_id, **opts)
    bar = None
    if not quiet and fmt != "json":
        from rich.progress import Progress

        bar = Progress(transient=True)
    if bar is not None:
        with bar:
            job = bar.add_task(f"exporting {task.id}", total=None)
            result = export_items(task, split, n, seed, out,
                                  progress=lambda done, total: bar.update(job, completed=done, total=total))
    else:
        result = export_items(task, split, n, seed, out)
    if fmt == "json":
        echo_json(result)
    elif not quiet:
        click.echo(f"wrote {plural(result['n'], 'item')} of {task.id} ({split}, seed {seed}) to {out}")


@tasks.command("build")
@click.argument("task", metavar="[TASK]", required=False)
@click.option("--from", "source_format", help="Source format of the dataset (see --list), e.g. coco, images, hpatches.")
@click.option("--images", type=click.Path(), help="Image folder of the source dataset.")
@click.option("--annotations", type=click.Path(), help="Annotation file (e.g. COCO instances_train2017.json).")
@click.option("--path", "path", type=click.Path(), help="Dataset root folder (e.g. hpatches-sequences-release/).")
@click.option("--out", type=click.Path(file_okay=False), help="Output folder (a custom task: OUT/task.yaml).")
@click.option("--n", "n", type=int, help="Number of items to build.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--exclude-images", type=click.Path(),
              help="BLINK val/test images (a folder of images and/or parquet files): source images whose "
                   "perceptual hash matches one are dropped.")
@click.option("--blink-val", type=click.Path(),
              help="A local BLINK copy: its val items of TASK become the build's val split (train on built "
                   "items, evaluate on BLINK val); also the default --exclude-images.")
@click.option("--wording", default="question", show_default=True, type=click.Choice(["question", "prompt"]),
              help="BLINK's short question (as blink:TASK items carry) or its long prompt instruction.")
@click.option("--list", "list_", is_flag=True, help="List every task's builders and source formats, then exit.")
@format_option
@quiet_option
def build(task, source_format, images, annotations, path, out, n, seed, exclude_images, blink_val, wording, list_,
          fmt, quiet):
    """Build a BLINK-style training set from a public source dataset in its official layout.

    Writes OUT/task.yaml + train.jsonl + images/ + provenance.json + DATA_CARD.md: a custom task
    (custom:OUT/task.yaml) with BLINK's wording, choices and visual prompts; each item records its
    source. Deterministic per seed. See data_cards/built-tasks.md.

    \b
    Example:
      pgfselect tasks build --list
      pgfselect tasks build blink:Counting --from coco --annotations coco/annotations/instances_train2017.json \\
          --images coco/train2017 --exclude-images BLINK/ --n 800 --seed 0 --out data/counting-train
      pgfselect tasks build blink:Jigsaw --from images --images coco/train2017 --n 600 --out data/jigsaw-train
    """
    if list_:
        rows = builder_rows()
        if fmt == "json":
            echo_json(rows)
            return
        from rich.table import Table

        table = Table(title="Builders (tasks build TASK --from FORMAT)", title_justify="left")
        for col in ("task", "from", "status", "reads", "note"):
            table.add_column(col, overflow="fold")
        command = click.get_current_context().command  # layouts and notes name build_task's parameters
        for r in rows:
            table.add_row(r["task"], r["from"] or "-", r["status"], as_flags(r["layout"] or "-", command),
                          as_flags(r["note"], command))
        _console().print(table)
        return
    given = (("TASK", task), ("--from", source_format), ("--out", out), ("--n", n))
    missing = [name for name, v in given if v is None]
    if missing:
        raise PGFSelectError(f"missing {', '.join(missing)}: give TASK --from FORMAT --out DIR --n N "
                             "(or --list to see the builders)")
    _check_n(n)
    kwargs = dict(images=images, annotations=annotations, path=path, exclude_images=exclude_images, wording=wording,
                  blink_val=blink_val)
    if quiet or fmt == "json":
        result = build_task(task, source_format, out, n, seed, **kwargs)
    else:
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            job = bar.add_task(f"building {task}", total=n)
            result = build_task(task, source_format, out, n, seed, **kwargs,
                                progress=lambda done, total, what: bar.update(job, completed=done, total=total,
                                                                              description=what))
    if fmt == "json":
        echo_json(result)
    elif not quiet:
        leak = result["leak_guard"]
        click.echo(f"wrote {plural(n, 'item')} of {result['task']} (--from {result['from']}, seed {seed}, status "
                   f"{result['status']}) to {out} in {result['seconds']:.1f} s; leak guard: "
                   + ("not run" if leak["exclude_images"] is None else
                      f"{leak['source_images_dropped']} source image(s) dropped"))


@tasks.command("import")
@click.argument("import_format", metavar="FORMAT", type=click.Choice(["llava", "messages", "hf"]))
@click.argument("path", metavar="PATH")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Task folder to write (new or empty).")
@click.option("--name", help="Task name (default: the file's stem).")
@click.option("--images", type=click.Path(file_okay=False), help="llava: folder the image paths are relative to "
              "(default: the JSON file's folder); messages: default the file's folder.")
@click.option("--split-fractions", default="0.8,0.1,0.1", show_default=True, help="train,val,test shares.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the split.")
@click.option("--answer-type", type=click.Choice(["choice", "number", "text"]),
              help="Override the inferred type (choice on open answers: their closed set becomes the options).")
@click.option("--split-turns", is_flag=True, help="Import each turn of a multi-turn conversation as an item.")
@click.option("--columns", help="hf: KEY=COLUMN pairs, e.g. question=q,answer=a,image=img,choices=opts,id=idx.")
@click.option("--revision", help="hf: the pinned revision (commit) of a hub dataset id.")
@click.option("--hf-split", help="hf: which split of a DatasetDict (or hub dataset) to import.")
@click.option("--tolerance", default=0.0, show_default=True, type=float,
              help="number: relative tolerance for decimal answers (integers are always exact).")
@click.option("--number-metric", type=click.Choice(["exact", "mra"]), default="exact", show_default=True,
              help="number: exact (with --tolerance) or MRA (VSI-Bench's mean relative accuracy).")
@format_option
@quiet_option
def import_(import_format, path, out, name, images, split_fractions, seed, answer_type, split_turns, columns,
            revision, hf_split, tolerance, number_metric, fmt, quiet):
    """Import LLaVA JSON, TRL messages (JSONL or a datasets folder) or any datasets folder as a
    custom task OUT/task.yaml (use it as custom:OUT/task.yaml). Answers are typed: number when
    all are numeric, else text (greedy generation, normalised match), or choice.

    \b
    Example:
      pgfselect tasks import llava counts.json --images imgs --out tasks/counts
      pgfselect tasks import messages colours.jsonl --out tasks/colours --split-fractions 0.6,0.2,0.2
      pgfselect tasks import hf data/vqa --columns question=q,answer=a,image=img --out tasks/vqa
      pgfselect tasks show custom:tasks/counts/task.yaml --format json
    """
    result = import_task(import_format, path, out, name=name, images=images, split_fractions=split_fractions,
                         seed=seed, answer_type=answer_type, split_turns=split_turns, columns=columns,
                         revision=revision, hf_split=hf_split, tolerance=tolerance, number_metric=number_metric)
    if fmt == "json":
        echo_json(result)
    elif not quiet:
        sizes = ", ".join(f"{s} {n}" for s, n in result["split_sizes"].items())
        click.echo(f"imported {sum(result['split_sizes'].values())} items ({sizes}) as {result['answer_type']} "
                   f"task {result['task']}")
        if result["hint"]:  # it names import_task's parameters (answer_type=choice): here, flags
            click.echo(f"hint: {as_flags(result['hint'], click.get_current_context().command)}")
