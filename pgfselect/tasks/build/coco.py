"""COCO / LVIS instance annotations -> blink:Counting, blink:Object_Localization (and, in
spatial.py, blink:Spatial_Relation from box geometry).

Reads the official instances format (cocodataset/cocoapi PythonAPI/pycocotools/coco.py):
``images[{id, file_name, width, height}]``, ``annotations[{id, image_id, category_id, bbox,
area, iscrowd}]``, ``categories[{id, name}]``; ``bbox = [x, y, width, height]`` in pixels from the
top-left corner. LVIS v1 (lvis-dataset/lvis-api) has the same keys, no ``iscrowd``, images named
by ``coco_url``, and ``not_exhaustive_category_ids`` per image (categories whose instances are
not all annotated: they are never counted or asked about).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...errors import PGFSelectError
from .base import Built, Context, open_rgb, register, shuffled_choices
from .draw import draw_boxes, limit_size
from .prompts import CHOICES, plural, question

COCO = dict(needs=("annotations", "images"), dataset="coco",
            layout="annotations=instances_train2017.json (COCO) or lvis_v1_train.json (LVIS); "
                   "images=the folder holding its images (train2017/)",
            license="annotations CC BY 4.0; images: Flickr terms of use (not redistributable)")
MAX_COUNT = 10  # larger counts of COCO objects are rarely countable at a glance; BLINK's are small


@dataclass
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    anns: list  # non-crowd annotations
    crowd_cats: set  # categories with a crowd annotation here (their count is unknown)
    not_exhaustive: set


def load_coco(ctx: Context) -> tuple[list[CocoImage], dict[int, str], Path]:
    ann_path = ctx.need("annotations", "a COCO/LVIS instances JSON file (e.g. instances_train2017.json)")
    folder = ctx.need("images", "the folder of the annotation file's images (e.g. train2017/)")
    try:
        doc = json.loads(ann_path.read_text())
        cats = {int(c["id"]): str(c["name"]).replace("_", " ") for c in doc["categories"]}
        images = {}
        for im in doc["images"]:
            name = im.get("file_name") or Path(str(im["coco_url"])).name  # LVIS names images by URL
            images[int(im["id"])] = CocoImage(int(im["id"]), name, int(im["width"]), int(im["height"]), [], set(),
                                              set(im.get("not_exhaustive_category_ids", [])))
        for a in doc["annotations"]:
            im = images.get(int(a["image_id"]))
            if im is None:
                continue
            if a.get("iscrowd", 0):
                im.crowd_cats.add(int(a["category_id"]))
            else:
                im.anns.append(a)
    except (OSError, json.JSONDecodeError) as exc:
        raise PGFSelectError(f"annotations {str(ann_path)!r}: cannot read JSON: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise PGFSelectError(f"annotations {str(ann_path)!r}: not COCO/LVIS instances format (images, "
                             f"annotations, categories): bad or missing field {exc}") from None
    ctx.record_file(ann_path)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    ctx.dataset_version = str(info["version"]) if info.get("version") is not None else None
    return [images[k] for k in sorted(images)], cats, folder


def _source(im: CocoImage, **extra) -> dict:
    return {"dataset": "coco", "image_id": im.id, "file_name": im.file_name, **extra}


def _loader(folder: Path, im: CocoImage):
    return lambda: open_rgb(folder / im.file_name)


def _counts(im: CocoImage) -> dict[int, int]:
    out: dict[int, int] = {}
    for a in im.anns:
        out[int(a["category_id"])] = out.get(int(a["category_id"]), 0) + 1
    return out


def _coco_images(ctx: Context):
    """(category names, image folder, the images with their per-category annotation counts in
    the build's seeded order)."""
    images, cats, folder = load_coco(ctx)
    ordered = ((images[idx], _counts(images[idx])) for idx in ctx.order(len(images)))
    return cats, folder, ordered


@register("Counting", "coco", status="unconfirmed", **COCO,
          cites="cocodataset/cocoapi PythonAPI/pycocotools/coco.py; lvis-dataset/lvis-api",
          note="BLINK's Counting source is UNCONFIRMED (TallyQA is a guess; BLINK asks compositional "
               "questions such as 'How many blue floats'); these questions name a COCO category only")
def counting(ctx: Context):
    cats, folder, ordered = _coco_images(ctx)
    for im, counts in ordered:
        # a category with a crowd region or a non-exhaustive label has no countable truth
        ok = sorted(c for c, k in counts.items() if k <= MAX_COUNT and c not in im.crowd_cats | im.not_exhaustive)
        if not ok:
            ctx.skipped["no countable category"] += 1
            continue
        cat = ok[int(ctx.rng.integers(len(ok)))]
        truth = counts[cat]
        near = [k for k in range(max(0, truth - 3), truth + 4) if k != truth]
        wrong = [int(k) for k in ctx.rng.choice(near, size=3, replace=False)]
        choices, answer = shuffled_choices(ctx.rng, truth, wrong)
        yield Built(render=lambda im=im: [limit_size(open_rgb(folder / im.file_name))],
                    question=question("Counting", ctx.wording, obj=plural(cats[cat])),
                    choices=[str(c) for c in choices], answer=answer,
                    source=_source(im, category_id=cat, category=cats[cat], count=truth),
                    originals=[(im.file_name, _loader(folder, im))])


def iou(a, b) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def perturb(box, width: int, height: int, rng, lo: float = 0.2, hi: float = 0.5, tries: int = 200):
    """A box inside the image whose IoU with ``box`` is in [lo, hi] (LIVR's recipe: jitter the
    corners), or None after ``tries`` draws."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    for _ in range(tries):
        dx0, dx1 = rng.uniform(-0.6, 0.6, 2) * w
        dy0, dy1 = rng.uniform(-0.6, 0.6, 2) * h
        cand = (max(0.0, x0 + dx0), max(0.0, y0 + dy0), min(float(width), x1 + dx1), min(float(height), y1 + dy1))
        if cand[2] - cand[0] > 4 and cand[3] - cand[1] > 4 and lo <= iou(box, cand) <= hi:
            return cand
    return None


@register("Object_Localization", "coco", status="unconfirmed", **COCO,
          cites="cocodataset/cocoapi PythonAPI/pycocotools/coco.py; LIVR (arXiv 2512.21218) appendix A.3",
          note="COCO imagery is BLINK's source [C3]; COCO vs LVIS boxes and BLINK's distractor rule are "
               "UNCONFIRMED: the distractor follows LIVR (IoU 0.2-0.5 with the true box; true box 15-50% of "
               "the image, mask >= 60% of the box; the object is the only one of its category)")
def object_localization(ctx: Context):
    cats, folder, ordered = _coco_images(ctx)
    for im, counts in ordered:
        cands = [a for a in im.anns if counts[int(a["category_id"])] == 1 and int(a["category_id"]) not in
                 im.crowd_cats | im.not_exhaustive  # "the knife" must name one object
                 and 0.15 <= a["bbox"][2] * a["bbox"][3] / (im.width * im.height) <= 0.5
                 and float(a.get("area", 0)) >= 0.6 * a["bbox"][2] * a["bbox"][3]]
        if not cands:
            ctx.skipped["no single, large, compact object"] += 1
            continue
        a = cands[int(ctx.rng.integers(len(cands)))]
        x, y, w, h = (float(v) for v in a["bbox"])
        gold = (x, y, x + w, y + h)
        other = perturb(gold, im.width, im.height, ctx.rng)
        if other is None:
            ctx.skipped["no distractor box with IoU 0.2-0.5"] += 1
            continue
        (first, second), answer = shuffled_choices(ctx.rng, gold, [other])
        boxes = {"A": [round(v, 2) for v in first], "B": [round(v, 2) for v in second]}

        def render(im=im, boxes=boxes):
            img = limit_size(open_rgb(folder / im.file_name))
            s = img.info["scale"]
            return [draw_boxes(img, [[v * s for v in boxes[k]] for k in "AB"], ["A", "B"])]

        name = cats[int(a["category_id"])]
        yield Built(render=render, question=question("Object_Localization", ctx.wording, obj=name),
                    choices=list(CHOICES["Object_Localization"]), answer=answer,
                    source=_source(im, annotation_id=a["id"], category=name, bbox=[x, y, w, h], boxes_xyxy=boxes),
                    originals=[(im.file_name, _loader(folder, im))])
