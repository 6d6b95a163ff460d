"""Run a builder and write its task folder: ``task.yaml`` + ``train.jsonl`` + ``images/`` +
``provenance.json`` + ``DATA_CARD.md``, built in a temporary folder beside ``out`` and renamed
into place, so a failed or interrupted build leaves nothing half-written."""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

import numpy as np
import yaml

from ...errors import PGFSelectError
from ...fileio import check_writable, package_versions, staged_folder
from ...names import BLINK_TASKS, resolve
from ..base import blink_meta
from ..blink import BlinkTask
from ..schema import PROMPT_VERSION, Item, validate_item
from .base import ABSENT, BUILDERS, Builder, Context
from .card import data_card
from .leak import MAX_DISTANCE, LeakGuard, load_exclusions
from .prompts import WORDINGS

BUILD_MARK = "build.json"  # marks a folder as an earlier build (safe to replace)


def resolve_task(task: str) -> str:
    """``blink:Counting`` / ``Counting`` / ``blink:CT`` -> ``Counting``."""
    source, sep, name = task.strip().partition(":")
    if sep and source.lower() != "blink":
        raise PGFSelectError(f"task {task!r}: builders make BLINK-style tasks; use blink:NAME "
                             f"(e.g. blink:Counting)")
    return resolve(name if sep else source, BLINK_TASKS, "BLINK task")


def get_builder(task: str, source_format: str) -> Builder:
    name = resolve_task(task)
    if name in ABSENT:
        raise PGFSelectError(f"blink:{name} has no builder: {ABSENT[name]}")
    formats = sorted(f for t, f in BUILDERS if t == name)
    if (name, source_format) not in BUILDERS:
        raise PGFSelectError(f"source_format {source_format!r} is not a source format of blink:{name}; allowed: "
                             f"{', '.join(formats)}")
    return BUILDERS[(name, source_format)]


def _check_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / BUILD_MARK).is_file())):
        raise PGFSelectError(f"out {str(out)!r} exists and is not an earlier build (no {BUILD_MARK}); "
                             "choose a new or empty folder")


def _inputs_summary(ctx: Context) -> dict:
    """Input paths, with annotation-file sha256s and, for folders, a file count (hashing every
    image of COCO would take minutes; the per-item source records name the files used)."""
    out = {}
    for name in ("images", "annotations", "path"):
        p = getattr(ctx, name)
        if p is not None:
            out[name] = {"path": str(p.resolve()), "kind": "folder" if p.is_dir() else "file"}
    out["sha256"] = dict(sorted(ctx.files.items()))
    out["dataset_version"] = ctx.dataset_version  # None: the files state none; their sha256s identify them
    return out


def _write_item(tmp: Path, stem: str, item: Item) -> str:
    """Write ``item``'s images as ``images/STEM_K.png``; return its JSONL line."""
    paths = []
    for k, img in enumerate(item.images):
        paths.append(f"images/{stem}_{k + 1}.png")
        # zlib level 1: photos encode ~6x faster than at PNG's default level 6 for ~10-20% more bytes
        # (the encoder was 85% of a COCO build's time); lossless, so markers keep their exact colours
        buf = io.BytesIO()
        img.save(buf, format="PNG", compress_level=1)
        (tmp / paths[-1]).write_bytes(buf.getvalue())
    return json.dumps(item.record(paths), sort_keys=True)


def _blink_val(task: str, blink_val) -> list[Item]:
    """BLINK's own val items of ``task`` (from a local copy), so the build folder is a task that
    trains on built items and is evaluated on BLINK val (what measure/train recipes expect)."""
    return BlinkTask(task, local_path=blink_val).items("val")


def _val_lines(tmp: Path, items: list[Item]) -> list[str]:
    lines = []
    for item in items:
        idx = str(item.meta["idx"])
        item.id = idx
        item.meta["source"] = {"dataset": "BLINK-Benchmark/BLINK", "idx": idx, "split": "val"}
        lines.append(_write_item(tmp, f"val_{len(lines):06d}", item))
    return lines


def build_task(task: str, source_format: str, out: str | os.PathLike, n: int, seed: int, *, images=None,
               annotations=None, path=None, exclude_images=None, wording: str = "question",
               blink_val=None, progress=None) -> dict:
    """Build ``n`` items of BLINK task ``task`` from ``source_format`` (a builder's format, see
    :func:`~.card.builder_rows`) into the folder ``out``; ``images``, ``annotations``, ``path``: the
    source dataset's inputs its builder reads.

    ``blink_val``: a local BLINK copy; its val items of the task become the folder's ``val``
    split, and it is the default ``exclude_images`` (every image under it, test included).
    ``progress(done, total, what)`` is called as the exclusions are hashed and as items are built.

    Returns a summary dict (also written to ``provenance.json``). Deterministic for the same inputs,
    ``n``, ``seed`` and exclusion set: byte-identical files with the same Pillow and numpy.
    """
    b = get_builder(task, source_format)
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise PGFSelectError(f"n {n!r} must be a positive number of items")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PGFSelectError(f"seed {seed!r} must be a non-negative integer")
    if wording not in WORDINGS:
        raise PGFSelectError(f"wording {wording!r}; allowed: {', '.join(WORDINGS)}")
    given = {"images": images, "annotations": annotations, "path": path}
    extra = [k for k, v in given.items() if v is not None and k not in b.needs]
    if extra:
        raise PGFSelectError(f"{extra[0]} does not apply to blink:{b.task} with source_format={b.fmt}; it reads: "
                             f"{b.layout}")
    out = Path(out)
    _check_out(out)
    ctx = Context(**{k: Path(v) if v is not None else None for k, v in given.items()},
                  rng=np.random.default_rng(seed), wording=wording)
    for k in b.needs:
        ctx.need(k, b.layout)
    val_items = _blink_val(b.task, blink_val) if blink_val is not None else []  # read first: fail fast
    if blink_val is not None and exclude_images is None:
        exclude_images = blink_val  # a build evaluated on BLINK val must not train on BLINK's images
    hashing = (lambda done, total: progress(done, total, "hashing BLINK images")) if progress else None
    guard = LeakGuard(load_exclusions(exclude_images, hashing) if exclude_images is not None else None)
    check_writable(out.parent, "out")
    meta = blink_meta(b.task)
    started = time.perf_counter()
    with staged_folder(out) as tmp:
        (tmp / "images").mkdir()
        lines, dropped_items, seen = [], 0, 0
        for cand in b.make(ctx):
            seen += 1
            if any(guard.leaks(key, load) for key, load in cand.originals):
                dropped_items += 1
                continue
            i = len(lines)
            imgs = cand.render()
            item = validate_item(Item(id=f"{i:06d}", images=imgs, question=cand.question, choices=cand.choices,
                                      answer=cand.answer), meta["n_choices"], f"built item {i}")
            if len(imgs) != meta["n_images"]:  # a builder bug, not a user error
                raise AssertionError(f"{b.task} builder made {len(imgs)} images; BLINK has {meta['n_images']}")
            item.meta["source"] = cand.source
            lines.append(_write_item(tmp, f"{i:06d}", item))
            if progress:
                progress(len(lines), n, f"building blink:{b.task}")
            if len(lines) == n:
                break
        if len(lines) < n:
            skips = "; ".join(f"{k}: {v}" for k, v in sorted(ctx.skipped.items())) or "none"
            guard_drops = f"{dropped_items} dropped by exclude_images={exclude_images}" if exclude_images is not None \
                else "no leak guard"
            raise PGFSelectError(f"blink:{b.task} with source_format={b.fmt}: only {len(lines)} of n={n} items could "
                                 f"be built from {seen} candidates ({guard_drops}; skipped visits of source records: "
                                 f"{skips}); lower n={n} or give more source data")
        val_lines = _val_lines(tmp, val_items)
        seconds = time.perf_counter() - started
        name = re.sub(r"[^A-Za-z0-9_.\-]", "-", f"blink-{b.task}-{b.fmt}-s{seed}")
        manifest = {"name": name, "description": f"blink:{b.task}-style training items built from {b.dataset} "
                    f"(--from {b.fmt}, seed {seed}); builder status: {b.status}",
                    "n_choices": meta["n_choices"], "n_images": meta["n_images"], "level": meta["level"],
                    "granularity": meta["granularity"], "license": b.license,
                    "splits": {"train": "train.jsonl", **({"val": "val.jsonl"} if val_lines else {})}}
        leak = {"exclude_images": str(Path(exclude_images).resolve()) if exclude_images is not None else None,
                "excluded_hashes": 0 if guard.excluded is None else int(len(guard.excluded)),
                "max_hamming_distance": MAX_DISTANCE, "source_images_dropped": len(guard.dropped),
                "items_dropped": dropped_items, "dropped_source_images": guard.dropped}
        summary = {"task": f"blink:{b.task}", "from": b.fmt, "status": b.status, "dataset": b.dataset,
                   "builder_version": b.version, "n": n, "seed": seed, "wording": wording,
                   "val": {"from": str(Path(blink_val).resolve()), "n": len(val_lines)} if val_lines else None,
                   "candidates_seen": seen, "skipped": dict(sorted(ctx.skipped.items())), "leak_guard": leak,
                   "inputs": _inputs_summary(ctx), "prompt_version": PROMPT_VERSION,
                   "package_versions": package_versions(("pgfselect", "numpy", "pillow", "scipy"))}

        (tmp / "train.jsonl").write_text("\n".join(lines) + "\n")
        if val_lines:
            (tmp / "val.jsonl").write_text("\n".join(val_lines) + "\n")
        (tmp / "task.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        (tmp / "provenance.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (tmp / "DATA_CARD.md").write_text(data_card(b, summary))
        (tmp / BUILD_MARK).write_text(json.dumps({"task": summary["task"], "from": b.fmt, "n": n, "seed": seed}) + "\n")
    # timing is reported, not written: the files stay byte-identical between runs
    return {**summary, "out": str(out), "manifest": str(out / "task.yaml"), "seconds": round(seconds, 3),
            "items_per_second": round(n / seconds, 2) if seconds > 0 else None}
