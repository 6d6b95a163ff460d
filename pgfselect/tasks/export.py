"""Write items to disk (JSONL + PNG files, re-loadable as a custom task) and draw previews."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import yaml

from ..errors import PGFSelectError
from ..fileio import check_writable, package_versions, staged_folder
from .base import Task
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
        raise PGFSelectError(f"out {str(out)!r} exists and is not an earlier export (no items.jsonl); "
                             "choose a new or empty folder")
    items = task.items(split, n, seed)
    check_writable(out.parent, "out")
    with staged_folder(out) as tmp:
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

        (tmp / "task.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
        # Pillow (FreeType) and numpy versions decide the exact pixels: same versions, same bytes
        prov = {**task.provenance(), "split": split, "n": len(items), "seed": seed,
                "prompt_version": PROMPT_VERSION,
                "package_versions": package_versions(("pgfselect", "numpy", "pillow", "datasets"))}
        (tmp / "provenance.json").write_text(json.dumps(prov, indent=2, sort_keys=True, default=str) + "\n")
    return {"task": task.id, "split": split, "seed": seed, "n": len(items), "out": str(out),
            "items": str(out / "items.jsonl"), "manifest": str(out / "task.yaml")}


# Fonts for the text of previews, best first: Latin + Greek + CJK (Debian fonts-wqy-microhei or
# fonts-noto-cjk, installed by .ci/run), then DejaVu Sans (Latin, Greek, Cyrillic; matplotlib ships
# a copy, so it is always there). $PGFSELECT_FONT names another TrueType/OpenType file.
PREVIEW_FONTS = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
                 "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
                 "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
                 "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_HINT = ("install a font with these glyphs (Debian: apt-get install fonts-wqy-microhei, or fonts-noto-cjk) "
             "or set PGFSELECT_FONT=/path/to/font.ttf")


def _font_files() -> list[str]:
    found = [os.environ["PGFSELECT_FONT"]] if os.environ.get("PGFSELECT_FONT") else []
    found += [p for p in PREVIEW_FONTS if os.path.isfile(p)]
    try:
        import matplotlib

        found.append(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", "DejaVuSans.ttf"))
    except ImportError:  # pragma: no cover - matplotlib is a core dependency
        pass
    return [p for p in dict.fromkeys(found) if os.path.isfile(p)]


def _charset(path: str) -> set[int]:
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, fontNumber=0, lazy=True) as f:
            return set(f.getBestCmap() or ())
    except Exception:  # noqa: BLE001 - an unreadable font is skipped
        return set()


def preview_font(text: str, px: int = 12):
    """(PIL font, characters no installed font can draw) for ``text``: the first font of
    :data:`PREVIEW_FONTS` (or $PGFSELECT_FONT) with a glyph for every character, else the one
    with the most; PIL's built-in font when none is readable."""
    from PIL import ImageFont

    needed = {ord(c) for c in text if not c.isspace() and c.isprintable()}
    best, best_missing = None, None
    for path in _font_files():
        missing = needed - _charset(path)
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = path, missing
        if not missing:
            break
    if best is None:
        return ImageFont.load_default(size=px), "".join(sorted({c for c in text if ord(c) > 0x24F}))
    return ImageFont.truetype(best, px), "".join(chr(c) for c in sorted(best_missing))


def _wrap(text: str, f, width: float) -> list[str]:
    """Lines of at most ``width`` pixels: words where there are spaces, characters elsewhere (CJK)."""
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in re.split(r"(\s+)", para):
            if f.getlength(line + word) <= width:
                line += word
                continue
            if line.strip():
                lines.append(line.rstrip())
            line = word.lstrip()
            while f.getlength(line) > width:  # a word (or CJK run) wider than a line: break it
                k = max(1, next(i for i in range(1, len(line) + 1) if f.getlength(line[:i]) > width) - 1)
                lines.append(line[:k])
                line = line[k:]
        lines.append(line.rstrip())
    return lines


def _number_scoring(task: Task) -> dict:
    sc = task.scoring
    return {"tolerance": sc["tolerance"], "number_metric": sc["metric"]} if task.answer_type == "number" else {}


def preview_image(task: Task, split: str, n: int, seed: int, columns: int = 4):
    """A PIL grid of ``n`` items: each cell shows the images, the question, the lettered
    options and the answer (marked and written out). Text is drawn with :func:`preview_font`;
    characters no installed font has are listed in ``image.info["missing_glyphs"]``."""
    from PIL import Image, ImageDraw

    items = task.items(split, n, seed)
    thumb, cell_w, pad = 112, 470, 8
    f, missing = preview_font("".join(item.question + "".join(item.choices or ()) + item.id + str(answer_text(item))
                                      for item in items))
    cells = []
    for item in items:
        text = [f"{item.id}"] + _wrap(item.question, f, cell_w - 2 * pad)
        if item.answer_type != "choice":
            text += _wrap(f"answer: {answer_text(item)}  <= answer", f, cell_w - 2 * pad)
        for letter, choice in zip(letters(len(item.choices)) if item.choices else [], item.choices):
            mark = "  <= answer" if letter == answer_text(item) else ""
            text += _wrap(f"({letter}) {choice}{mark}", f, cell_w - 2 * pad)
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
    grid.info["missing_glyphs"] = missing
    return grid
