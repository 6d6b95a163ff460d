"""Texture tasks: Art_Style, Visual_Similarity, Forensic_Detection (3-4 images at half size)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .base import Sample, generator, multi_size
from .primitives import (COLOURS, PATTERNS, SHAPES, GroundCamera, add_noise, canvas, draw_ground,
                         draw_ground_object, draw_shape, ground_colours, random_palette, rng_choice, texture, to_image)

WHICH2 = ["the second image", "the third image"]
WHICH4 = ["the first image", "the second image", "the third image", "the fourth image"]


def _style(rng) -> dict:
    return {"pattern": rng_choice(rng, PATTERNS), "palette": random_palette(rng),
            "period": float(rng.uniform(0.1, 0.22)), "angle": float(rng.uniform(0, np.pi))}


def _other_style(rng, style: dict, difficulty: float) -> dict:
    """A different style: pattern and palette both change when easy, only one when hard."""
    new = dict(style)
    change = {"pattern", "palette"} if rng.random() > difficulty else {rng_choice(rng, ("pattern", "palette"))}
    if "pattern" in change:
        new["pattern"] = rng_choice(rng, [p for p in PATTERNS if p != style["pattern"]])
    if "palette" in change:
        while new["palette"] == style["palette"]:
            new["palette"] = random_palette(rng)
    return new


def _content(rng, size: int) -> list[tuple]:
    return [(rng_choice(rng, SHAPES), *rng.uniform(0.3, 0.7, size=2) * size,
             float(rng.uniform(0.2, 0.32) * size), float(rng.uniform(0, 6.3)))
            for _ in range(int(rng.integers(1, 3)))]


def render(size: int, style: dict, content: list[tuple], rng, jitter: float = 0.05) -> Image.Image:
    """Content (shape silhouettes) painted in a style: the background carries the pattern, the
    shapes the same pattern turned 90 degrees with the palette swapped."""
    period = style["period"] * size * (1 + rng.uniform(-jitter, jitter))
    angle = style["angle"] + rng.uniform(-jitter, jitter)
    a, b = style["palette"]
    bg = texture(size, style["pattern"], (a, b), period, angle, float(rng.uniform(0, 1)))
    fg = texture(size, style["pattern"], (b, a), period, angle + np.pi / 2, float(rng.uniform(0, 1)))
    mask = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(mask)
    for kind, x, y, r, rot in content:
        draw_shape(d, kind, x, y, r, fill=255, angle=rot)
    m = (np.asarray(mask) > 0)[..., None]
    return to_image(np.where(m, fg, bg))


@generator("Art_Style", skills=("texture", "image-comparison"),
           summary="which of two images is painted in the same style as the first (content differs)?")
def art_style(rng, target, size, difficulty):
    s = multi_size(size, 3)
    style = _style(rng)
    ref_content = _content(rng, s)
    same = render(s, style, _content(rng, s), rng)
    # the wrong candidate copies the reference's content more often when hard
    wrong_content = ref_content if rng.random() < 0.3 + 0.7 * difficulty else _content(rng, s)
    wrong = render(s, _other_style(rng, style, difficulty), wrong_content, rng)
    cands = [same, wrong] if target == 0 else [wrong, same]
    sigma = 6 * difficulty
    return Sample([add_noise(im, rng, sigma) for im in [render(s, style, ref_content, rng), *cands]],
                  "Which image shares the same style as the first image?", WHICH2, target,
                  {"style": style["pattern"]})


@generator("Visual_Similarity", skills=("texture", "image-comparison", "shapes"),
           summary="which of two images looks more like the first (small vs larger perturbation)?")
def visual_similarity(rng, target, size, difficulty):
    s = multi_size(size, 3)
    style, content = _style(rng), _content(rng, s)
    ref = render(s, style, content, rng, jitter=0.0)
    near = render(s, style, content, rng, jitter=0.05)
    # the other candidate differs in one attribute, by less as difficulty rises
    far_style = dict(style)
    far_content = content
    attr = rng_choice(rng, ("period", "angle", "palette", "content"))
    amount = 1.0 - 0.65 * difficulty
    if attr == "period":
        far_style["period"] = style["period"] * (1 + amount) if rng.random() < 0.5 else style["period"] / (1 + amount)
    elif attr == "angle":
        far_style["angle"] = style["angle"] + (0.25 + 1.0 * amount) * (1 if rng.random() < 0.5 else -1)
    elif attr == "palette":
        while far_style["palette"] == style["palette"]:
            far_style["palette"] = random_palette(rng)
    else:
        far_content = _content(rng, s)
    far = render(s, far_style, far_content, rng, jitter=0.05)
    cands = [near, far] if target == 0 else [far, near]
    sigma = 6 * difficulty
    return Sample([add_noise(im, rng, sigma) for im in [ref, *cands]],
                  "Which image is more similar to the first image?", WHICH2, target, {"changed": attr})


ARTIFACTS = ("grid", "banding", "shadows", "tiling", "oversaturated")


def _photo(rng, size: int, objs: list, horizon: float, shadow_side: np.ndarray) -> Image.Image:
    img = canvas(size)
    cam = GroundCamera(size, horizon=horizon)
    draw_ground(img, cam, **ground_colours(rng))
    d = ImageDraw.Draw(img)
    for (z, x, kind, colour), side in zip(objs, shadow_side):
        draw_ground_object(d, cam, kind, x, z, 0.3, colour, shadow_dx=0.5 * side)
    return img


def _fake(rng, img: Image.Image, artifact: str, strength: float) -> Image.Image:
    arr = np.asarray(img, dtype=np.float32)
    s = arr.shape[0]
    if artifact == "grid":  # periodic upsampling artifact
        period = 4
        y, x = np.mgrid[0:s, 0:s]
        arr = arr + (((x // (period // 2) + y // (period // 2)) % 2) * 2 - 1)[..., None] * 22 * strength
    elif artifact == "banding":  # too few grey levels, no sensor noise
        levels = 3 + int(round(6 * (1 - strength)))
        arr = np.round(arr / 255 * levels) / levels * 255
    elif artifact == "tiling":  # the picture repeats a tile
        t = s // 2
        tile = arr[t // 2:t // 2 + t, t // 2:t // 2 + t]
        rep = np.tile(tile, (2, 2, 1))[:s, :s]
        arr = arr * (1 - strength) + rep * strength
    elif artifact == "oversaturated":
        mean = arr.mean(axis=2, keepdims=True)
        arr = mean + (arr - mean) * (1 + 1.6 * strength)
    return to_image(arr)


@generator("Forensic_Detection", skills=("artifacts", "texture", "depth", "image-comparison"),
           summary="four floor scenes, three with a generation artifact: which one is the real photograph?")
def forensic_detection(rng, target, size, difficulty):
    s = multi_size(size, 4)
    strength = 1.0 - 0.6 * difficulty
    artifacts = [ARTIFACTS[i] for i in rng.choice(len(ARTIFACTS), size=3, replace=False)]
    images = []
    for k in range(4):
        n = int(rng.integers(2, 4))
        objs = [(float(z), float(rng.uniform(-0.6, 0.6)) * z, rng_choice(rng, SHAPES),
                 rng_choice(rng, list(COLOURS.values()))) for z in np.sort(rng.uniform(1.3, 5.0, size=n))[::-1]]
        horizon = float(rng.uniform(0.28, 0.42))
        side = 1 if rng.random() < 0.5 else -1
        artifact = None if k == target else artifacts.pop()
        shadows = np.full(n, side)
        if artifact == "shadows":  # each object lit from its own side
            shadows = -side * np.ones(n)
            shadows[0] = side
        img = _photo(rng, s, objs, horizon, shadows)
        if artifact not in (None, "shadows"):
            img = _fake(rng, img, artifact, strength)
        images.append(img if artifact == "banding" else add_noise(img, rng, 5.0))
    return Sample(images, "Which image is most likely to be a real photograph?", WHICH4, target, {})
