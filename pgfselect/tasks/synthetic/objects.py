"""Object tasks built from the shared shapes: Counting, Spatial_Relation, Object_Localization."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from .base import Sample, generator
from .primitives import (COLOURS, MARK_COLOURS, PLURAL, SHAPES, add_noise, canvas, draw_label, draw_shape, object_palette,
                         grid_positions, rng_choice)


def _background(rng: np.random.Generator, size: int, difficulty: float = 1.0):
    """Near-white when easy, a random light grey as difficulty rises."""
    grey = int(255 - rng.integers(0, 6 + round(45 * difficulty)))
    return canvas(size, (grey, grey, grey))


def _radius(rng: np.random.Generator, slot_r: float, difficulty: float) -> float:
    # harder items have smaller objects
    return float(rng.uniform(0.55, 1.0) * slot_r * (1.0 - 0.35 * difficulty))


@generator("Counting", skills=("shapes", "counting"),
           summary="count the objects of the named shape (1-4) among distractor shapes")
def counting(rng, target, size, difficulty):
    count = target + 1
    shape = rng_choice(rng, SHAPES)
    others = [s for s in SHAPES if s != shape]
    n_distract = int(rng.integers(0, 1 + round(4 * difficulty)))
    img = _background(rng, size, difficulty)
    draw = ImageDraw.Draw(img)
    slots = grid_positions(rng, size, count + n_distract)
    colours = object_palette(rng, difficulty)
    for i, (x, y, r) in enumerate(slots):
        kind = shape if i < count else rng_choice(rng, others)
        draw_shape(draw, kind, x, y, _radius(rng, r, difficulty), fill=rng_choice(rng, colours),
                   outline=(40, 40, 40), angle=float(rng.uniform(-0.3, 0.3) * difficulty))
    img = add_noise(img, rng, 14 * difficulty)
    return Sample([img], f"How many {PLURAL[shape]} are in the image?", ["1", "2", "3", "4"], target,
                  {"shape": shape, "count": count, "distractors": n_distract})


RELATIONS = {"to the left of": (0, -1), "to the right of": (0, 1), "above": (1, -1), "below": (1, 1)}


@generator("Spatial_Relation", skills=("shapes", "layout"),
           summary="is the named object left of / right of / above / below the other? (yes/no)")
def spatial_relation(rng, target, size, difficulty):
    kinds = rng.choice(len(SHAPES), size=2, replace=False)
    a, b = SHAPES[kinds[0]], SHAPES[kinds[1]]
    # named by colour and shape: colour words are the easier handle for a small model
    names = list(COLOURS)
    ca, cb = (names[i] for i in rng.choice(len(names), size=2, replace=False))
    relation = rng_choice(rng, list(RELATIONS))
    axis, sign = RELATIONS[relation]
    truth = target == 0  # choices are ["yes", "no"]
    # separation along the relation's axis shrinks with difficulty
    gap = size * rng.uniform(0.45, 0.7) * (1.0 - 0.6 * difficulty)
    centre = size / 2 + rng.uniform(-0.1, 0.1, size=2) * size
    pa, pb = centre.copy(), centre.copy()
    pa[axis] += (sign if truth else -sign) * gap / 2
    pb[axis] -= (sign if truth else -sign) * gap / 2
    ortho = 1 - axis
    pa[ortho] += rng.uniform(-0.25, 0.25) * size
    pb[ortho] += rng.uniform(-0.25, 0.25) * size
    r = size * rng.uniform(0.07, 0.1)
    img = _background(rng, size, difficulty)
    draw = ImageDraw.Draw(img)
    colours = list(COLOURS.values())
    n_distract = int(rng.integers(0, 1 + round(3 * difficulty)))
    third = [s for s in SHAPES if s not in (a, b)]
    for _ in range(n_distract):  # distractors never repeat a named shape
        x, y = rng.uniform(0.1, 0.9, size=2) * size
        if min(np.hypot(x - p[0], y - p[1]) for p in (pa, pb)) > 2.5 * r:
            draw_shape(draw, rng_choice(rng, third), x, y, r * 0.8, fill=rng_choice(rng, colours),
                       outline=(40, 40, 40))
    for kind, colour, p in ((a, ca, pa), (b, cb, pb)):
        x, y = np.clip(p, r + 2, size - r - 2)
        draw_shape(draw, kind, x, y, r, fill=COLOURS[colour], outline=(40, 40, 40))
    img = add_noise(img, rng, 12 * difficulty)
    return Sample([img], f"Is the {ca} {a} {relation} the {cb} {b}?", ["yes", "no"], target,
                  {"relation": relation, "truth": truth})


def draw_box(img, label: str, box, size: int) -> None:
    """A labelled bounding box, colour-coded like the marked points (A red, B blue)."""
    draw = ImageDraw.Draw(img)
    colour = MARK_COLOURS[label]
    w = max(1, round(size / 56))
    draw.rectangle(box, outline=colour, width=w)
    fpx = max(7, round(size * 0.1))
    x, y = box[0] + w + 1, box[1] - fpx - 1 if box[1] > fpx + 2 else box[3] + 1
    draw_label(img, (x, y), label, fpx, colour)


@generator("Object_Localization", skills=("shapes", "layout", "marked-points"),
           summary="which of two labelled boxes tightly encloses the named object?")
def object_localization(rng, target, size, difficulty):
    n_obj = 1 + int(rng.integers(1, 2 + round(3 * difficulty)))
    slots = grid_positions(rng, size, n_obj, cells=3, margin=0.42)
    names = list(COLOURS)
    img = _background(rng, size, difficulty)
    draw = ImageDraw.Draw(img)
    objects = []
    used = set()
    for x, y, r in slots:
        while True:  # (colour, shape) pairs are unique so the named object is unambiguous
            kind, colour = rng_choice(rng, SHAPES), rng_choice(rng, names)
            if (kind, colour) not in used:
                used.add((kind, colour))
                break
        rr = float(rng.uniform(0.7, 1.0) * r)
        box = draw_shape(draw, kind, x, y, rr, fill=COLOURS[colour], outline=(40, 40, 40))
        objects.append((kind, colour, box))
    kind, colour, box = objects[0]
    pad = 2
    good = (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)
    w, h = good[2] - good[0], good[3] - good[1]
    mode = rng_choice(rng, ("shift", "scale", "other") if n_obj > 1 else ("shift", "scale"))
    amount = 0.6 - 0.4 * difficulty  # how wrong the wrong box is
    if mode == "shift":
        dx, dy = rng.choice([-1, 1], size=2) * rng.uniform(0.5, 1.0, size=2) * amount
        bad = (good[0] + dx * w, good[1] + dy * h, good[2] + dx * w, good[3] + dy * h)
    elif mode == "scale":
        f = 1 + amount * (1.5 if rng.random() < 0.5 else -0.6)
        cx, cy = (good[0] + good[2]) / 2, (good[1] + good[3]) / 2
        bad = (cx - w * f / 2, cy - h * f / 2, cx + w * f / 2, cy + h * f / 2)
    else:
        ob = objects[1][2]
        bad = (ob[0] - pad, ob[1] - pad, ob[2] + pad, ob[3] + pad)
    boxes = [good, bad] if target == 0 else [bad, good]
    for label, bx in zip("AB", boxes):
        draw_box(img, label, tuple(float(np.clip(v, 0, size - 1)) for v in bx), size)
    img = add_noise(img, rng, 12 * difficulty)
    return Sample([img], f"Which bounding box more accurately localizes and encloses the {colour} {kind}?",
                  ["Box A", "Box B"], target, {"wrong_box": mode})
