"""blink:Relative_Reflectance from IIW (Intrinsic Images in the Wild) judgements."""

from __future__ import annotations

import json

from ...errors import PGFSelectError
from .base import Built, Context, open_rgb, register
from .draw import limit_size, mark_points
from .prompts import CHOICES, question

# IIW's darker field -> the answer when point1 is labelled A ('1': point1 is darker)
DARKER = {"1": 0, "2": 1, "E": 2}


@register("Relative_Reflectance", "iiw", status="unconfirmed", needs=("path",), dataset="iiw",
          layout="path=the IIW data/ folder: <photo_id>.png + <photo_id>.json judgements",
          cites="seanbell/intrinsic bell2014/judgements.py (intrinsic_points, intrinsic_comparisons)",
          note="BLINK Relative_Reflectance is built on IIW [C3, via LIVR]. The mapping darker '1' -> A is darker, "
               "'2' -> B, 'E' -> About the same is inferred (UNCONFIRMED), and BLINK's filter on darker_score is "
               "UNCONFIRMED: comparisons with darker_score > 0 between opaque points are used, one per photo, "
               "with A/B assigned at random",
          license="IIW: UNCONFIRMED")
def iiw(ctx: Context):
    root = ctx.need("path", "the IIW data/ folder of <photo_id>.png + <photo_id>.json")
    photos = sorted(p for p in root.glob("*.json") if p.with_suffix(".png").is_file())
    if not photos:
        raise PGFSelectError(f"path {str(root)!r} has no <photo_id>.json with a matching <photo_id>.png (IIW layout)")
    for idx in ctx.visits(len(photos)):
        jpath = photos[idx]
        try:
            doc = json.loads(jpath.read_text())
            points = {p["id"]: p for p in doc["intrinsic_points"]}
            comps = [c for c in doc["intrinsic_comparisons"] if c.get("darker") in DARKER
                     and (c.get("darker_score") or 0) > 0 and points[c["point1"]].get("opaque", True)
                     and points[c["point2"]].get("opaque", True)]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PGFSelectError(f"{jpath}: not an IIW judgement file (intrinsic_points, intrinsic_comparisons): "
                                 f"{type(exc).__name__}: {exc}") from None
        if not comps:
            ctx.skipped["no usable comparison"] += 1
            continue
        c = comps[int(ctx.rng.integers(len(comps)))]
        swap = bool(ctx.rng.integers(2))  # BLINK's A/B answers are balanced; IIW's point order is not random
        p1, p2 = points[c["point1"]], points[c["point2"]]
        a, b = (p2, p1) if swap else (p1, p2)
        answer = DARKER[c["darker"]]
        if swap and answer < 2:
            answer = 1 - answer
        img_path = jpath.with_suffix(".png")
        ctx.record_file(jpath)  # before the yield: the runner may stop the generator at this item

        def render(img_path=img_path, a=a, b=b):
            img = limit_size(open_rgb(img_path))
            # IIW points are normalised: pixel = (x * W, y * H)
            return [mark_points(img, [(p["x"] * img.width, p["y"] * img.height) for p in (a, b)], ["A", "B"])]

        yield Built(render=render, question=question("Relative_Reflectance", ctx.wording),
                    choices=list(CHOICES["Relative_Reflectance"]), answer=answer,
                    source={"dataset": "iiw", "image_id": jpath.stem, "file_name": img_path.name,
                            "comparison": {k: c.get(k) for k in ("id", "point1", "point2", "darker", "darker_score")},
                            "labels": {"A": a["id"], "B": b["id"]}},
                    originals=[(img_path.name, lambda p=img_path: open_rgb(p))])
