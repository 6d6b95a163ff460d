"""Single-image marked-point tasks: Relative_Depth and Relative_Reflectance."""

from __future__ import annotations

import numpy as np
from PIL import ImageDraw

from .base import Sample, generator
from .primitives import (SHAPES, GroundCamera, add_noise, canvas, draw_ground,
                         draw_ground_object, draw_mark, ground_colours, object_palette, rng_choice, to_image)


@generator("Relative_Depth", skills=("marked-points", "depth"),
           summary="which of two marked objects on a perspective floor is closer to the camera?")
def relative_depth(rng, target, size, difficulty):
    img = canvas(size)
    cam = GroundCamera(size, horizon=float(rng.uniform(0.28, 0.42)))
    draw_ground(img, cam, **ground_colours(rng, difficulty))
    draw = ImageDraw.Draw(img)
    # the depth ratio between the two marked objects shrinks with difficulty
    z_near = float(rng.uniform(1.3, 2.6))
    z_far = z_near * float(rng.uniform(1.25, 1.6) + 1.6 * (1.0 - difficulty))
    z_far = min(z_far, 12.0)
    n_clutter = int(rng.integers(0, 1 + round(4 * difficulty)))
    objs = [(z, float(rng.uniform(-0.9, 0.9)) * z) for z in rng.uniform(1.3, 9.0, size=n_clutter)]
    # the two marked objects sit on opposite sides of the image (x is in world units: |x/z| < 1)
    side = 1 if rng.random() < 0.5 else -1
    x_near = side * float(rng.uniform(0.15, 0.75)) * z_near
    x_far = -side * float(rng.uniform(0.1, 0.75)) * z_far
    marked = {"AB"[target]: (z_near, x_near), "AB"[1 - target]: (z_far, x_far)}
    colours = object_palette(rng, difficulty, dark=(90, 90, 90))  # only the marks are coloured when easy
    placed = {}
    # far to near, so nearer objects occlude farther ones
    for item in sorted([(z, x, None) for z, x in objs] + [(z, x, k) for k, (z, x) in marked.items()],
                       key=lambda t: -t[0]):
        z, x, label = item
        sx, cy, r = draw_ground_object(draw, cam, rng_choice(rng, SHAPES), x, z, 0.28,
                                       rng_choice(rng, colours))
        if label:
            placed[label] = (sx, cy)
    for label, (sx, cy) in placed.items():
        draw_mark(img, label, float(np.clip(sx, 4, size - 4)), float(np.clip(cy, 4, size - 4)), size)
    img = add_noise(img, rng, 12 * difficulty)
    return Sample([img], "Which point is closer to the camera?", ["Point A", "Point B"], target,
                  {"z_near": z_near, "z_far": z_far, "clutter": n_clutter})


@generator("Relative_Reflectance", skills=("marked-points", "brightness"),
           summary="which marked surface is darker in colour (albedo), or are they about the same, "
                   "under uneven lighting?")
def relative_reflectance(rng, target, size, difficulty):
    # A Mondrian: rectangles of random albedo, lit by a linear illumination gradient
    albedo = np.full((size, size), float(rng.uniform(0.3, 0.8)), dtype=np.float32)
    rects = []
    for _ in range(int(rng.integers(5, 9))):
        x0, y0 = rng.integers(0, size - size // 4, size=2)
        w, h = rng.integers(size // 5, size // 2, size=2)
        a = float(rng.uniform(0.15, 0.95))
        albedo[y0:y0 + h, x0:x0 + w] = a
        rects.append((int(x0), int(y0), int(w), int(h)))
    # the two marked patches are drawn last, on opposite halves, so both stay fully visible
    min_gap = 0.08 + 0.3 * (1.0 - difficulty)
    base = float(rng.uniform(0.2, 0.85 - min_gap))
    dark, light = base, base + float(rng.uniform(min_gap, min(0.9 - base, min_gap + 0.2)))
    if target == 2:  # "About the same"
        a_val = b_val = float(rng.uniform(0.2, 0.85))
    else:
        a_val, b_val = (dark, light) if target == 0 else (light, dark)
    half = size // 2
    horizontal = rng.random() < 0.5
    flip = int(rng.random() < 0.5)  # which half point A lies in
    centres = []
    for k, val in enumerate((a_val, b_val)):
        w, h = rng.integers(size // 5, size // 3, size=2)
        lo = (k ^ flip) * half if horizontal else 0
        x0 = int(rng.integers(lo, lo + half - w)) if horizontal else int(rng.integers(0, size - w))
        lo_y = 0 if horizontal else (k ^ flip) * half
        y0 = int(rng.integers(0, size - h)) if horizontal else int(rng.integers(lo_y, lo_y + half - h))
        albedo[y0:y0 + h, x0:x0 + w] = val
        centres.append((x0 + w / 2 + rng.uniform(-0.2, 0.2) * w, y0 + h / 2 + rng.uniform(-0.2, 0.2) * h))
    # lighting: strength grows with difficulty, so pixel brightness stops matching albedo
    theta = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    light = 1.0 + (0.15 + 0.55 * difficulty) * (np.cos(theta) * x + np.sin(theta) * y) * 2
    tint = np.asarray(rng.uniform(0.85, 1.0, size=3), dtype=np.float32)
    img = to_image((albedo * light)[..., None] * tint * 255)
    for label, centre in zip("AB", centres):
        draw_mark(img, label, *centre, size)
    img = add_noise(img, rng, 8 * difficulty)
    return Sample([img], "Which point has the darker surface color, or are the colors about the same?",
                  ["Point A", "Point B", "About the same"], target,
                  {"albedo_a": a_val, "albedo_b": b_val})
