"""blink:Spatial_Relation from VSR (its JSONL) and from COCO box geometry."""

from __future__ import annotations

import json
import re

from ...errors import PGFSelectError
from .base import Built, Context, open_rgb, register
from .coco import COCO, _counts, _loader, _source, load_coco
from .draw import limit_size
from .prompts import question

SPATIAL_NOTE = ("BLINK's Spatial_Relation source is UNCONFIRMED; VSR fits its items exactly (COCO images, "
                "'Is the X <relation> the Y?' yes/no) but no BLINK source says so")


def _yes_no(ctx: Context, truth: bool, render, subj, rel, obj, source, originals) -> Built:
    return Built(render=render, question=question("Spatial_Relation", ctx.wording, subj=subj, rel=rel, obj=obj),
                 choices=["yes", "no"], answer=0 if truth else 1, source=source, originals=originals)


def _balanced(ctx: Context, yes: list, no: list):
    """Interleave the seeded-shuffled true and false records: BLINK's yes/no are balanced."""
    yes = [yes[i] for i in ctx.order(len(yes))]
    no = [no[i] for i in ctx.order(len(no))]
    first_yes = bool(ctx.rng.integers(2))
    for i in range(max(len(yes), len(no))):
        for pool in ((yes, no) if first_yes else (no, yes)):
            if i < len(pool):
                yield pool[i]


def parse_caption(caption: str, relation: str):
    """``"The cat is at the right side of the dog."`` with relation ``"at the right side of"`` ->
    a match with groups subj, rel, obj; None for captions of another shape."""
    return re.match(rf"^The (?P<subj>.+?) (?:is|are) (?P<rel>{re.escape(relation)}) the (?P<obj>.+?)\.?$",
                    caption.strip())


@register("Spatial_Relation", "vsr", status="unconfirmed", needs=("annotations", "images"), dataset="vsr",
          layout="annotations=data/splits/random/train.jsonl (VSR); images=the COCO 2017 images it names",
          cites="cambridgeltl/visual-spatial-reasoning data/README.md", note=SPATIAL_NOTE + "; label 1 -> yes, 0 -> no",
          license="VSR annotations: see the VSR repository's LICENSE (UNCONFIRMED); images: COCO (Flickr terms)")
def vsr(ctx: Context):
    path = ctx.need("annotations", "a VSR JSONL split (e.g. data/splits/random/train.jsonl)")
    folder = ctx.need("images", "the folder holding VSR's COCO images")
    ctx.record_file(path)
    yes, no = [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                image, caption, label, relation = rec["image"], rec["caption"], int(rec["label"]), rec["relation"]
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise PGFSelectError(f"{path}:{lineno}: not a VSR record (image, caption, label, relation): "
                                     f"{type(exc).__name__}: {exc}") from None
            m = parse_caption(caption, relation)
            if label not in (0, 1) or m is None:
                ctx.skipped["caption not 'The X is <relation> the Y.'"] += 1
                continue
            (yes if label == 1 else no).append((lineno, image, caption, label, m))
    for lineno, image, caption, label, m in _balanced(ctx, yes, no):
        img_path = folder / image
        stem = image.rsplit(".", 1)[0]
        source = {"dataset": "vsr", "file_name": image, "line": lineno, "caption": caption, "label": label,
                  **({"image_id": int(stem)} if stem.isdigit() else {})}
        yield _yes_no(ctx, label == 1, lambda p=img_path: [limit_size(open_rgb(p))], m["subj"], m["rel"], m["obj"],
                      source, [(image, lambda p=img_path: open_rgb(p))])


OPPOSITE = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}


def relations(a, b) -> list[str]:
    """Image-plane relations of box ``a`` to box ``b`` ((x, y, w, h)) that hold with no overlap
    along their axis (a box partly beside another is neither left nor right of it)."""
    out = []
    if a[0] + a[2] <= b[0]:
        out.append("left of")
    if b[0] + b[2] <= a[0]:
        out.append("right of")
    if a[1] + a[3] <= b[1]:
        out.append("above")
    if b[1] + b[3] <= a[1]:
        out.append("below")
    return out


@register("Spatial_Relation", "coco", status="unconfirmed", **COCO,
          cites="cocodataset/cocoapi PythonAPI/pycocotools/coco.py",
          note=SPATIAL_NOTE + ". From COCO boxes only image-plane relations can be derived (left of, right of, "
               "above, below, between two objects that each occur once and do not overlap along that axis); "
               "BLINK/VSR also ask about 3D and topological relations")
def coco_geometry(ctx: Context):
    images, cats, folder = load_coco(ctx)
    made = {True: 0, False: 0}
    for idx in ctx.order(len(images)):
        im = images[idx]
        counts = _counts(im)
        single = [a for a in im.anns if counts[int(a["category_id"])] == 1
                  and int(a["category_id"]) not in im.crowd_cats | im.not_exhaustive]
        pairs = [(a, b, r) for a in single for b in single if a is not b for r in relations(a["bbox"], b["bbox"])]
        if not pairs:
            ctx.skipped["no two single objects apart"] += 1
            continue
        a, b, rel = pairs[int(ctx.rng.integers(len(pairs)))]
        truth = made[True] <= made[False]  # keep yes and no balanced
        made[truth] += 1
        asked = rel if truth else OPPOSITE[rel]
        subj, obj = cats[int(a["category_id"])], cats[int(b["category_id"])]
        source = _source(im, subject_annotation_id=a["id"], object_annotation_id=b["id"], relation=asked,
                         subject_bbox=a["bbox"], object_bbox=b["bbox"])
        yield _yes_no(ctx, truth, lambda im=im: [limit_size(open_rgb(folder / im.file_name))], subj, asked, obj,
                      source, [(im.file_name, _loader(folder, im))])
