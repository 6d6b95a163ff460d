"""Write items to disk (JSONL + PNG files, re-loadable as a custom task) and draw previews."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import textwrap
from pathlib import Path

from ..errors import PGFSelectError
from ..fileio import check_writable, package_versions
from .registry import Task
from .schema import PROMPT_VERSION, answer_text, letters


def png_bytes(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)  # PIL writes no timestamp: same image, same bytes
    return buf.getvalue()


def export_items(task: Task, split: str, n: int | None, seed: int, out: str | os.PathLike,
                 progress=None) -> dict:
    """Export items of (task, split, n, seed) to the folder ``out``.

    Writes ``items.jsonl`` (one record per item, image paths relative to the folder),
    ``images/*.png``, ``task.yaml`` (a custom-task manifest, so the export loads back as
    ``custom:out/task.yaml``) and ``provenance.json``. The same arguments give byte-identical
    files. The folder is built beside ``out`` and renamed into place, so a failed export leaves
    no half-written folder; an existing ``out`` is replaced only if it is an earlier export.
    Returns a summary dict.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "items.jsonl").is_file())):
        raise PGFSelectError(f"output {str(out)!r} exists and is not an earlier export (no items.jsonl); "
                             "choose a new or empty folder")
    items = task.items(split, n, seed)
    check_writable(out.parent, "export")
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        (tmp / "images").mkdir()
        lines = []
        for i, item in enumerate(items):
            paths = []
            for k, img in enumerate(item.images):
                rel = f"images/{i:06d}_{k + 1}.png"
                (tmp / rel).write_bytes(png_bytes(img))
                paths.append(rel)
            lines.append(json.dumps(item.record(paths), sort_keys=True))
            if progress:
                progress(i + 1, len(items))
        (tmp / "items.jsonl").write_text("\n".join(lines) + "\n")
        name = re.sub(r"[^A-Za-z0-9_.\-]", "-", f"{task.source}-{task.name}-{split}-s{seed}")
        manifest = {"name": name, "description": f"export of {task.id} ({split}, seed {seed}): {task.description}",
                    "n_choices": task.n_choices, "level": task.level, "granularity": task.granularity,
                    "splits": {split: "items.jsonl"}}
        if task.answer_type != "choice":  # open-ended: no options; keep the type and its scoring
            del manifest["n_choices"]
            manifest.update(answer_type=task.answer_type, **_number_scoring(task))
        if task.n_images:
            manifest["n_images"] = task.n_images
        import yaml

        (tmp / "task.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        # Pillow (FreeType) and numpy versions decide the exact pixels: same versions, same bytes
        prov = {**task.provenance(), "split": split, "n": len(items), "seed": seed,
                "prompt_version": PROMPT_VERSION,
                "package_versions": package_versions(("pgfselect", "numpy", "pillow", "datasets"))}
        (tmp / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True, default=str) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"task": task.id, "split": split, "seed": seed, "n": len(items), "out": str(out),
            "items": str(out / "items.jsonl"), "manifest": str(out / "task.yaml")}


def _number_scoring(task: Task) -> dict:
    sc = task.scoring
    return {"tolerance": sc["tolerance"], "number_metric": sc["metric"]} if task.answer_type == "number" else {}


def preview_image(task: Task, split: str, n: int, seed: int, columns: int = 4):
    """A PIL grid of ``n`` items: each cell shows the images, the question, the lettered
    options and the answer (marked and written out)."""
    from PIL import Image, ImageDraw

    from .synthetic.primitives import font

    items = task.items(split, n, seed)
    thumb, cell_w, pad = 112, 470, 8
    f = font(12)
    cells = []
    for item in items:
        text = [f"{item.id}"] + textwrap.wrap(item.question, 68)
        if item.answer_type != "choice":
            text += textwrap.wrap(f"answer: {answer_text(item)}  <= answer", 68)
        for letter, choice in zip(letters(len(item.choices)) if item.choices else [], item.choices):
            mark = "  <= answer" if letter == answer_text(item) else ""
            text += textwrap.wrap(f"({letter}) {choice}{mark}", 68)
        h = thumb + pad * 2 + 15 * len(text)
        cell = Image.new("RGB", (cell_w, h), (255, 255, 255))
        x = pad
        for img in item.images:
            w = max(1, round(img.width * thumb / img.height))
            cell.paste(img.resize((min(w, cell_w - x - pad), thumb)), (x, pad))
            x += min(w, cell_w - x - pad) + 4
            if x >= cell_w - pad:
                break
        d = ImageDraw.Draw(cell)
        for j, line in enumerate(text):
            colour = (0, 120, 0) if line.endswith("<= answer") else (0, 0, 0)
            d.text((pad, thumb + pad * 2 + 15 * j), line, fill=colour, font=f)
        cells.append(cell)
    columns = max(1, min(columns, len(cells)))
    rows = [cells[i:i + columns] for i in range(0, len(cells), columns)]
    heights = [max(c.height for c in row) for row in rows]
    grid = Image.new("RGB", (columns * (cell_w + 2), sum(heights) + 2 * len(rows)), (200, 200, 200))
    y = 0
    for row, h in zip(rows, heights):
        for j, cell in enumerate(row):
            grid.paste(cell, (j * (cell_w + 2), y))
        y += h + 2
    return grid
