"""Materialise a plan as a dataset any trainer reads (``pgfselect mix``).

A plan names sources and example counts; ``train`` turns it into items with
:func:`~pgfselect.recipes.resolve.sampling_seed` (recipe seed, strategy, task id) and
``task.items("train", n, seed)``. :func:`mix` draws exactly the same way, so a mix folder made with
``seed=S`` holds the very items the recipe's seed-S run of that plan trains on (same ids).

Formats written into ``DIR`` (built beside it and renamed into place: complete or absent):

- ``llava``: ``data.json`` (LLaVA records: ``id`` = the pgfselect item id, ``image``/``images``,
  ``conversations`` human/gpt) and ``images/*.png``.
- ``messages``: ``dataset/`` (a ``datasets.save_to_disk`` folder with TRL's ``messages`` and
  ``images`` columns plus ``id`` and ``task``: ``SFTTrainer`` takes it as is), and the LLaVA
  files above for trainers that read image paths.
- ``hf``: ``dataset/`` with pgfselect's own columns (``id``, ``task``, ``images``, ``question``,
  ``choices``, ``answer``, ``answer_text``, ``answer_type``; open-ended items: no choices,
  answer -1, the answer in ``answer_text``).

Every format also writes ``dataset_info.json`` (LLaMA-Factory's registry: ``dataset_dir=DIR``,
``dataset=pgfselect_mix`` reads ``data.json``) where ``data.json`` exists, and ``mix.json``
(plan digest, per-source counts, sampling seeds, versions). No torch here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import PGFSelectError
from .fileio import check_writable, package_versions, staged_folder
from .names import resolve
from .plan.planfile import read_plan
from .recipes.resolve import sampling_seed
from .recipes.schema import canonical_strategy
from .tasks.export import png_bytes
from .tasks.loading import quiet_datasets
from .tasks.registry import get_task
from .tasks.schema import answer_text, format_prompt, PROMPT_VERSION

FORMATS = ("llava", "messages", "hf")
MIX_VERSION = 1
DATASET_NAME = "pgfselect_mix"


# ------------------------------------------------------------------ which items
def task_ids_for(names: list[str], task_prefix: str | None = None, tasks: dict[str, str] | None = None) -> dict:
    """Matrix name -> registry task id, by the rules of a recipe (``tasks`` entries, names that
    are ids already, else ``task_prefix`` + name), canonicalised as ``train`` does so that the
    sampling seeds (a function of the id) agree."""
    explicit = {}
    for key, tid in (tasks or {}).items():
        explicit[resolve(key, names, "plan source in tasks")] = tid
    out = {}
    for name in names:
        tid = explicit.get(name) or (name if ":" in name else (task_prefix + name if task_prefix else None))
        if tid is None:
            raise PGFSelectError(f"plan source {name!r} maps to no task; give task_prefix=PREFIX (e.g. 'synthetic:' "
                                 f"or 'blink:') or tasks={name}=SOURCE:NAME")
        source, _, rest = tid.partition(":")
        if source.strip().lower() == "custom" and rest.strip().lower().endswith((".yaml", ".yml")):
            tid = "custom:" + str(Path(rest.strip()).resolve())  # train keeps custom ids as absolute paths
        try:
            task = get_task(tid)
        except PGFSelectError as exc:
            raise PGFSelectError(f"plan source {name!r} -> {tid!r}: {exc}") from None
        out[name] = tid if task.source == "custom" else task.id
    return out


def plan_draws(plan: dict, seed: int, task_prefix: str | None = None, tasks: dict | None = None) -> list[dict]:
    """One entry per planned source (allocation order, count > 0): ``source`` (matrix name),
    ``task`` (id), ``n`` and ``sampling_seed``, exactly as ``train`` samples a plan's run."""
    if plan.get("status") == "no_helpful_source" or not plan["allocation"]:
        rec = plan.get("recommendation") or {}
        raise PGFSelectError(f"the plan allocates nothing (status {plan.get('status')}): {rec.get('reason', '')} "
                             f"(recommendation: {rec.get('strategy', 'direct or zero_shot')}); nothing to mix")
    try:
        strategy = canonical_strategy(plan["strategy"])
    except ValueError as exc:
        raise PGFSelectError(f"plan strategy: {exc}") from None
    alloc = {src: int(n) for src, n in plan["allocation"].items() if int(n) > 0}
    ids = task_ids_for(list(alloc), task_prefix, tasks)
    return [{"source": src, "task": ids[src], "n": n, "sampling_seed": sampling_seed(seed, strategy, ids[src])}
            for src, n in alloc.items()]


def draw_items(draws: list[dict]) -> list[tuple[str, object]]:
    """(task id, item) pairs of every draw; a source with fewer train items than planned is an error."""
    out = []
    for d in draws:
        task = get_task(d["task"])
        have = task.split_sizes().get("train")
        if have is not None and have < d["n"]:
            raise PGFSelectError(f"source {d['source']} ({d['task']}) has {have} train items; the plan allocates "
                                 f"{d['n']}")
        items = task.items("train", n=d["n"], seed=d["sampling_seed"])
        out += [(d["task"], it) for it in items]
    return out


# ------------------------------------------------------------------ records
def llava_record(item, image_paths: list[str]) -> dict:
    human = "<image>\n" * len(image_paths) + format_prompt(item)
    rec = {"id": item.id}
    if len(image_paths) == 1:
        rec["image"] = image_paths[0]  # the original LLaVA trainer reads one "image"
    rec["images"] = list(image_paths)  # LLaVA-NeXT / LLaMA-Factory read a list
    rec["conversations"] = [{"from": "human", "value": human}, {"from": "gpt", "value": answer_text(item)}]
    return rec


def messages_record(item) -> list[dict]:
    """TRL's conversational vision format: image placeholders, then the prompt; the answer."""
    return [{"role": "user", "content": [{"type": "image", "text": None} for _ in item.images]
             + [{"type": "text", "text": format_prompt(item)}]},
            {"role": "assistant", "content": [{"type": "text", "text": answer_text(item)}]}]


def llamafactory_info() -> dict:
    return {DATASET_NAME: {"file_name": "data.json", "formatting": "sharegpt",
                           "columns": {"messages": "conversations", "images": "images"},
                           "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human",
                                    "assistant_tag": "gpt"}}}


# ------------------------------------------------------------------ the folder
def _write_images(tmp: Path, pairs) -> list[list[str]]:
    (tmp / "images").mkdir()
    paths = []
    for i, (_, item) in enumerate(pairs):
        row = []
        for k, img in enumerate(item.images):
            rel = f"images/{i:06d}_{k + 1}.png"
            (tmp / rel).write_bytes(png_bytes(img))
            row.append(rel)
        paths.append(row)
    return paths


def _save_dataset(tmp: Path, columns: dict) -> None:
    import datasets

    with quiet_datasets():
        ds = datasets.Dataset.from_dict(columns)
        ds = ds.cast_column("images", datasets.Sequence(datasets.Image()))
        ds.save_to_disk(str(tmp / "dataset"))


def _write_format(tmp: Path, fmt: str, pairs) -> None:
    if fmt in ("llava", "messages"):
        paths = _write_images(tmp, pairs)
        records = [llava_record(item, p) for (_, item), p in zip(pairs, paths)]
        (tmp / "data.json").write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n")
        (tmp / "dataset_info.json").write_text(json.dumps(llamafactory_info(), indent=1) + "\n")
    if fmt == "messages":
        _save_dataset(tmp, {"id": [it.id for _, it in pairs], "task": [t for t, _ in pairs],
                            "messages": [messages_record(it) for _, it in pairs],
                            "images": [list(it.images) for _, it in pairs]})
    elif fmt == "hf":
        _save_dataset(tmp, {"id": [it.id for _, it in pairs], "task": [t for t, _ in pairs],
                            "images": [list(it.images) for _, it in pairs],
                            "question": [format_prompt(it) for _, it in pairs],
                            "choices": [list(it.choices) for _, it in pairs],
                            "answer": [it.answer for _, it in pairs],
                            "answer_text": [answer_text(it) for _, it in pairs],
                            "answer_type": [it.answer_type for _, it in pairs]})


def mix(plan_path: str | os.PathLike, out: str | os.PathLike, fmt: str = "llava", seed: int = 0,
        task_prefix: str | None = None, tasks: dict | None = None) -> dict:
    """Write the plan's items into ``out`` in format ``fmt``; returns the ``mix.json`` summary."""
    if fmt not in FORMATS:
        raise PGFSelectError(f"fmt {fmt!r} is not a mix format; allowed: {', '.join(FORMATS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PGFSelectError(f"seed {seed!r} must be a non-negative integer")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PGFSelectError(f"out {str(out)!r} exists and is not an empty folder; choose a new one")
    plan = read_plan(plan_path)
    draws = plan_draws(plan, seed, task_prefix, tasks)
    pairs = draw_items(draws)
    check_writable(out.parent, "out")
    summary = {"pgfselect_mix": MIX_VERSION, "format": fmt, "plan": str(plan_path),
               "plan_digest": hashlib.sha256(Path(plan_path).read_bytes()).hexdigest()[:16],
               "matrix": plan["matrix"], "matrix_digest": plan.get("matrix_digest"), "target": plan["target"],
               "strategy": plan["strategy"], "budget": plan["budget"], "seed": seed, "examples": len(pairs),
               "sources": draws, "prompt_version": PROMPT_VERSION,
               "versions": package_versions(("pgfselect", "numpy", "pillow", "datasets"))}
    with staged_folder(out) as tmp:
        _write_format(tmp, fmt, pairs)
        (tmp / "mix.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {**summary, "out": str(out)}
