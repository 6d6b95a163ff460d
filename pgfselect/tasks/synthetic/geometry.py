"""Geometry tasks: Multi-view_Reasoning (parallax on the shared floor) and Jigsaw."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .base import Sample, generator, multi_size
from .primitives import (COLOURS, PATTERNS, SHAPES, GroundCamera, add_noise, canvas, draw_ground,
                         draw_ground_object, draw_shape, ground_colours, object_palette, random_palette, rng_choice, texture, to_image)


@generator("Multi-view_Reasoning", skills=("depth", "geometry", "image-comparison"),
           summary="two views of a static floor scene: did the camera move left or right?")
def multi_view_reasoning(rng, target, size, difficulty):
    direction = -1 if target == 0 else 1  # choices ["left", "right"]
    # easy: pure sideways translation, everything shifts the same way. Hard: the camera orbits
    # a fixation depth, so far objects shift the other way and only parallax relative to
    # depth tells the direction (as when orbiting an object in BLINK).
    fix_z = np.inf if rng.random() > difficulty else float(rng.uniform(4.0, 8.0))
    step = float(rng.uniform(0.25, 0.45) * (1.0 - 0.5 * difficulty))
    horizon = float(rng.uniform(0.28, 0.4))
    n = int(rng.integers(3, 6))
    zs = np.sort(rng.uniform(1.4, 7.0, size=n))[::-1]
    palette = object_palette(rng, difficulty, dark=(60, 60, 60))
    objs = [(float(z), float(rng.uniform(-0.7, 0.7)) * z, rng_choice(rng, SHAPES), rng_choice(rng, palette))
            for z in zs]
    colours = ground_colours(rng, difficulty)  # one scene, two views: same colours
    images = []
    for cam_x in (-direction * step / 2, direction * step / 2):
        img = canvas(size)
        cam = GroundCamera(size, horizon=horizon, cam_x=cam_x, fix_z=fix_z)
        draw_ground(img, cam, **colours)
        d = ImageDraw.Draw(img)
        for z, x, kind, colour in objs:
            draw_ground_object(d, cam, kind, x, z, 0.28, colour)
        images.append(add_noise(img, rng, 8 * difficulty))
    return Sample(images,
                  "The two images show a static scene; the first was taken before the second. "
                  "Is the camera moving left or right?", ["left", "right"], target,
                  {"step": step, "fixation_depth": None if np.isinf(fix_z) else fix_z})


def scene(rng: np.random.Generator, size: int, difficulty: float) -> Image.Image:
    """A textured background with large shapes that cross the picture's quadrants (so a
    missing quadrant can be recognised by the edges it must continue)."""
    pattern = rng_choice(rng, PATTERNS)
    arr = texture(size, pattern, random_palette(rng), float(rng.uniform(0.12, 0.3) * size),
                  float(rng.uniform(0, np.pi)))
    img = to_image(arr * 0.5 + 110)
    d = ImageDraw.Draw(img)
    colours = list(COLOURS.values())
    for _ in range(int(rng.integers(3, 6))):
        x, y = rng.uniform(0.2, 0.8, size=2) * size
        draw_shape(d, rng_choice(rng, SHAPES), x, y, float(rng.uniform(0.15, 0.3) * size),
                   fill=rng_choice(rng, colours), outline=(20, 20, 20), angle=float(rng.uniform(0, 6.3)))
    return img


@generator("Jigsaw", skills=("geometry", "texture", "image-comparison"),
           summary="the first image misses its bottom-right quarter: which candidate fills it?")
def jigsaw(rng, target, size, difficulty):
    full = scene(rng, size, difficulty)
    half = size // 2
    box = (size - half, size - half, size, size)
    right = full.crop(box)
    mode = "other-scene" if rng.random() > difficulty else rng_choice(rng, ("shifted", "flipped", "other-quarter"))
    if mode == "other-scene":
        wrong = scene(rng, size, difficulty).crop(box)
    elif mode == "shifted":  # same scene, cut a little off: edges stop lining up
        off = int(max(3, half * rng.uniform(0.25, 0.5)))
        wrong = full.crop((box[0] - off, box[1] - off, box[2] - off, box[3] - off))
    elif mode == "flipped":
        wrong = right.transpose(Image.Transpose.ROTATE_180)
    else:
        wrong = full.crop((0, 0, half, half))
    puzzle = full.copy()
    ImageDraw.Draw(puzzle).rectangle(box, fill=(0, 0, 0))
    patch = multi_size(size, 3)
    cands = [right, wrong] if target == 0 else [wrong, right]
    cands = [c.resize((patch, patch)) if c.size[0] != patch else c for c in cands]
    sigma = 6 * difficulty
    return Sample([add_noise(puzzle, rng, sigma)] + [add_noise(c, rng, sigma) for c in cands],
                  "The first image has its bottom-right part missing (black). "
                  "Which image is the missing part?", ["the second image", "the third image"], target,
                  {"distractor": mode})
