"""Two-image marked-point tasks: Visual_, Semantic_ and Functional_Correspondence.

All three show a REF mark in the first image and points A-D in the second and ask which point
corresponds; they differ in what "corresponds" means: the same scene location after a camera
shift (visual), the same part of another instance of the same kind of creature (semantic), the
part used for the same action on a different kind of tool (functional).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from .base import Sample, generator
from .primitives import (COLOURS, SHAPES, add_noise, draw_mark, draw_ref, draw_shape, far_apart, object_palette,
                         rng_choice)

LABELS = "ABCD"
CHOICES = ["Point A", "Point B", "Point C", "Point D"]


def _clutter_world(rng: np.random.Generator, world: int) -> Image.Image:
    """A scene of overlapping coloured shapes on a two-tone background: locally distinctive,
    so a location can be recognised after the camera moves."""
    bg = tuple(int(v) for v in rng.integers(150, 230, size=3))
    img = Image.new("RGB", (world, world), bg)
    d = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.integers(0, world, size=2)
        d.rectangle((int(x0), int(y0), int(x0 + world / 3), int(y0 + world / 4)),
                    fill=tuple(int(v) for v in rng.integers(90, 200, size=3)))
    colours = list(COLOURS.values())
    for _ in range(int(rng.integers(9, 14))):
        x, y = rng.uniform(0, world, size=2)
        draw_shape(d, rng_choice(rng, SHAPES), x, y, float(rng.uniform(0.05, 0.11) * world),
                   fill=rng_choice(rng, colours), outline=(20, 20, 20), angle=float(rng.uniform(0, 6.3)))
    return img


@generator("Visual_Correspondence", skills=("marked-points", "point-matching", "geometry"),
           summary="the camera moved: which point in image 2 is the REF location of image 1?")
def visual_correspondence(rng, target, size, difficulty):
    max_shift = (0.05 + 0.22 * difficulty) * size
    world = int(size + 2 * max_shift + 2)
    scene = _clutter_world(rng, world)
    o1 = np.array([max_shift, max_shift])
    o2 = o1 + rng.uniform(-max_shift, max_shift, size=2)
    view1 = scene.crop((int(o1[0]), int(o1[1]), int(o1[0]) + size, int(o1[1]) + size))
    view2 = scene.crop((int(o2[0]), int(o2[1]), int(o2[0]) + size, int(o2[1]) + size))
    if difficulty > 0:  # the light changes between the shots
        view2 = ImageEnhance.Brightness(view2).enhance(float(1 + rng.uniform(-0.3, 0.3) * difficulty))
    margin = 0.12 * size
    # the REF location must be visible in both views
    lo = margin + np.maximum(0, np.floor(o2) - np.floor(o1))
    hi = size - margin + np.minimum(0, np.floor(o2) - np.floor(o1))
    ref = rng.uniform(lo, hi)
    true2 = ref + np.floor(o1) - np.floor(o2)
    # distractor points come closer to the true one as difficulty rises
    others = far_apart(rng, 3, margin, size - margin, (0.35 - 0.15 * difficulty) * size, avoid=[tuple(true2)])
    pts = list(others)
    pts.insert(target, tuple(true2))
    draw_ref(view1, *ref, size)
    for label, p in zip(LABELS, pts):
        draw_mark(view2, label, *p, size)
    sigma = 8 * difficulty
    return Sample([add_noise(view1, rng, sigma), add_noise(view2, rng, sigma)],
                  "A point is marked REF in the first image. The camera moved and took the second image. "
                  "Which point in the second image shows the same location?",
                  CHOICES, target, {"shift": [float(v) for v in o2 - o1]})


# --------------------------------------------------------------------------- creatures

CREATURE_PARTS = ("head", "tail", "body", "leg")


def _creature(draw: ImageDraw.ImageDraw, rng, size: int, difficulty: float) -> dict[str, tuple[float, float]]:
    """Draw a creature (body ellipse, round head, triangular tail, two legs) of random colour,
    size, position and facing; return one point on each part."""
    s = size * float(rng.uniform(0.75, 1.0) - 0.15 * difficulty)
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    cy = size * 0.5 + rng.uniform(-0.06, 0.06) * size
    face = 1 if rng.random() < 0.5 else -1
    body_w, body_h = 0.26 * s, 0.14 * s
    col = rng_choice(rng, object_palette(rng, difficulty, dark=(110, 110, 110)))
    dark = tuple(int(v * 0.6) for v in col)
    legs = []
    for off in (-0.55, 0.45):
        lx = cx + off * body_w
        draw.rectangle((lx - 0.03 * s, cy + body_h * 0.6, lx + 0.03 * s, cy + body_h + 0.16 * s), fill=dark)
        legs.append((lx, cy + body_h + 0.1 * s))
    tail_x = cx - face * body_w
    draw.polygon([(tail_x, cy - 0.03 * s), (tail_x - face * 0.2 * s, cy - 0.14 * s),
                  (tail_x - face * 0.16 * s, cy + 0.06 * s)], fill=dark, outline=(20, 20, 20))
    draw.ellipse((cx - body_w, cy - body_h, cx + body_w, cy + body_h), fill=col, outline=(20, 20, 20))
    hx, hy, hr = cx + face * (body_w + 0.06 * s), cy - body_h - 0.02 * s, 0.1 * s
    draw.ellipse((hx - hr, hy - hr, hx + hr, hy + hr), fill=col, outline=(20, 20, 20))
    draw.ellipse((hx + face * hr * 0.35 - 2, hy - hr * 0.3 - 2, hx + face * hr * 0.35 + 2, hy - hr * 0.3 + 2),
                 fill=(0, 0, 0))
    return {"head": (hx, hy), "tail": (tail_x - face * 0.13 * s, cy - 0.05 * s),
            "body": (cx - face * body_w * 0.25, cy + rng.uniform(-0.3, 0.3) * body_h),
            "leg": legs[int(rng.integers(2))]}


def _plain(rng, size: int, difficulty: float) -> Image.Image:
    bg = tuple(int(v) for v in rng.integers(200, 250, size=3))
    img = Image.new("RGB", (size, size), bg)
    if difficulty > 0:  # background clutter
        d = ImageDraw.Draw(img)
        for _ in range(int(rng.integers(0, 1 + round(4 * difficulty)))):
            x, y = rng.uniform(0, size, size=2)
            draw_shape(d, rng_choice(rng, SHAPES), x, y, size * 0.05,
                       fill=tuple(int(v) for v in rng.integers(150, 230, size=3)))
    return img


@generator("Semantic_Correspondence", skills=("marked-points", "point-matching", "shapes"),
           summary="REF marks a part of a creature; which point marks the same part of another creature?")
def semantic_correspondence(rng, target, size, difficulty):
    img1, img2 = _plain(rng, size, difficulty), _plain(rng, size, difficulty)
    parts1 = _creature(ImageDraw.Draw(img1), rng, size, difficulty)
    parts2 = _creature(ImageDraw.Draw(img2), rng, size, difficulty)
    part = rng_choice(rng, CREATURE_PARTS)
    draw_ref(img1, *parts1[part], size)
    others = [p for p in CREATURE_PARTS if p != part]
    order = [others[i] for i in rng.permutation(3)]
    order.insert(target, part)
    for label, p in zip(LABELS, order):
        draw_mark(img2, label, *parts2[p], size)
    sigma = 8 * difficulty
    return Sample([add_noise(img1, rng, sigma), add_noise(img2, rng, sigma)],
                  "A point is marked REF on the creature in the first image. "
                  "Which point in the second image marks the same part of the creature?",
                  CHOICES, target, {"part": part, "parts": order})


# ------------------------------------------------------------------------------- tools

TOOLS = ("hammer", "pan", "knife", "brush")
GRIP = (95, 60, 30)
ACTIONS = {"grip": "hold it", "head": "do its work"}


def _rot(points, cx, cy, angle):
    c, s = np.cos(angle), np.sin(angle)
    return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]


def _tool(draw: ImageDraw.ImageDraw, rng, kind: str, size: int, difficulty: float) -> dict[str, list]:
    """Draw a tool: a striped grip (the same for every tool: grips look alike) plus a
    kind-specific head; return candidate points per functional part ('grip', 'head')."""
    s = size * float(rng.uniform(1.1, 1.35))  # the tool spans about 0.65 s
    cx, cy = size / 2 + rng.uniform(-0.04, 0.04, size=2) * size
    angle = float(rng.uniform(-1, 1) * np.pi / 2 * difficulty + (np.pi if rng.random() < 0.5 else 0))
    gl, gw = 0.25 * s, 0.05 * s  # grip from x=-gl-0.1s to -0.1s (tool frame: head towards +x)
    g0, g1 = -0.1 * s - gl, -0.1 * s
    grip = [(g0, -gw), (g1, -gw), (g1, gw), (g0, gw)]
    draw.polygon(_rot(grip, cx, cy, angle), fill=GRIP, outline=(20, 20, 20))
    for k in range(1, 4):  # light bands: the grip's signature
        x = g0 + k * gl / 4
        draw.polygon(_rot([(x - 1.2, -gw), (x + 1.2, -gw), (x + 1.2, gw), (x - 1.2, gw)], cx, cy, angle),
                     fill=(225, 205, 160))
    col = rng_choice(rng, [(150, 150, 160), (90, 90, 100), (190, 190, 200), (120, 130, 150)])
    if kind == "hammer":
        head = [(g1, -0.03 * s), (0.12 * s, -0.03 * s), (0.12 * s, 0.03 * s), (g1, 0.03 * s)]
        block = [(0.12 * s, -0.16 * s), (0.24 * s, -0.16 * s), (0.24 * s, 0.16 * s), (0.12 * s, 0.16 * s)]
        draw.polygon(_rot(head, cx, cy, angle), fill=GRIP, outline=(20, 20, 20))
        draw.polygon(_rot(block, cx, cy, angle), fill=col, outline=(20, 20, 20))
        work = [(0.18 * s, -0.1 * s), (0.18 * s, 0.1 * s)]
        neck = [(0.02 * s, 0.0)]
    elif kind == "pan":
        r = 0.2 * s
        pc = _rot([(g1 + r, 0)], cx, cy, angle)[0]
        draw.ellipse((pc[0] - r, pc[1] - r, pc[0] + r, pc[1] + r), fill=col, outline=(20, 20, 20))
        work = [(g1 + r, 0.0), (g1 + r * 1.4, 0.4 * r)]
        neck = []
    elif kind == "knife":
        blade = [(g1, -0.06 * s), (0.3 * s, -0.01 * s), (g1, 0.05 * s)]
        draw.polygon(_rot(blade, cx, cy, angle), fill=col, outline=(20, 20, 20))
        work = [(0.05 * s, 0.0), (0.15 * s, 0.0)]
        neck = []
    else:  # brush
        ferrule = [(g1, -0.06 * s), (0.02 * s, -0.06 * s), (0.02 * s, 0.06 * s), (g1, 0.06 * s)]
        bristles = [(0.02 * s, -0.08 * s), (0.25 * s, -0.1 * s), (0.25 * s, 0.1 * s), (0.02 * s, 0.08 * s)]
        draw.polygon(_rot(ferrule, cx, cy, angle), fill=(170, 170, 175), outline=(20, 20, 20))
        draw.polygon(_rot(bristles, cx, cy, angle), fill=col, outline=(20, 20, 20))
        work = [(0.15 * s, 0.0), (0.2 * s, 0.05 * s)]
        neck = [(-0.04 * s, 0.0)]
    grips = [(g0 + gl * f, 0.0) for f in (0.3, 0.5, 0.7)]
    return {"grip": _rot(grips, cx, cy, angle), "head": _rot(work, cx, cy, angle),
            "other": _rot(neck, cx, cy, angle)}


@generator("Functional_Correspondence", skills=("marked-points", "point-matching", "shapes"),
           summary="REF marks where one tool is held or does its work; which point on a different "
                   "kind of tool serves the same function?")
def functional_correspondence(rng, target, size, difficulty):
    k1, k2 = rng.choice(len(TOOLS), size=2, replace=False)
    img1, img2 = _plain(rng, size, difficulty), _plain(rng, size, difficulty)
    parts1 = _tool(ImageDraw.Draw(img1), rng, TOOLS[k1], size, difficulty)
    parts2 = _tool(ImageDraw.Draw(img2), rng, TOOLS[k2], size, difficulty)
    function = "grip" if rng.random() < 0.5 else "head"
    draw_ref(img1, *parts1[function][int(rng.integers(len(parts1[function])))], size)
    other = "head" if function == "grip" else "grip"
    right = parts2[function][int(rng.integers(len(parts2[function])))]
    # three distractors: the other functional part, any neck, then the background
    pool = list(parts2[other]) + list(parts2["other"])
    pool = [pool[i] for i in rng.permutation(len(pool))][:3]
    if len(pool) < 3:
        pool += far_apart(rng, 3 - len(pool), 0.08 * size, 0.92 * size, 0.2 * size, avoid=[right, *pool])
    pool.insert(target, right)
    for label, p in zip(LABELS, pool):
        draw_mark(img2, label, float(np.clip(p[0], 4, size - 4)), float(np.clip(p[1], 4, size - 4)), size)
    sigma = 8 * difficulty
    return Sample([add_noise(img1, rng, sigma), add_noise(img2, rng, sigma)],
                  f"A point is marked REF where you would {ACTIONS[function]} with the tool in the first image. "
                  "Which point in the second image is used for the same action on that tool?",
                  CHOICES, target, {"tools": [TOOLS[k1], TOOLS[k2]], "function": function})
