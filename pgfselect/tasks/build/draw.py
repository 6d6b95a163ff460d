"""BLINK's visual prompts, drawn in one place: labelled red circles and labelled boxes.

BLINK draws red circles with a text label ("REF", "A".."D") beside each one for the point tasks,
and two boxes labelled A and B for Object_Localization ([C3] in ../shared/notes/blink-sources.md).
The radius, line width, font and colours are not published (UNCONFIRMED), so they scale with the
image: a marker stays visible on a 4000-px photo and does not swamp a 300-px one.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from ..synthetic.primitives import draw_label

RED = (255, 0, 0)
BOX_COLOURS = {"A": (255, 0, 0), "B": (0, 90, 255)}  # two colours so the boxes are told apart


def _scale(img: Image.Image) -> float:
    return max(img.width, img.height) / 100.0


def mark_points(img: Image.Image, points: list[tuple[float, float]], labels: list[str]) -> Image.Image:
    """A copy of ``img`` with a red circle around each (x, y) pixel and its label beside it."""
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    s = _scale(out)
    r, width, px = max(4.0, 1.6 * s), max(2, round(0.4 * s)), max(10, round(3.2 * s))
    for (x, y), label in zip(points, labels):
        d.ellipse([x - r, y - r, x + r, y + r], outline=RED, width=width)
        # label to the right of the circle, flipped left near the right edge so it stays inside
        lx = x + r + 2 if x + r + 2 + px * len(label) < out.width else x - r - 2 - 0.7 * px * len(label)
        draw_label(out, (lx, max(0.0, y - px / 2)), label, px, RED)
    return out


def draw_boxes(img: Image.Image, boxes: list[tuple[float, float, float, float]], labels: list[str]) -> Image.Image:
    """A copy of ``img`` with each box ``(x0, y0, x1, y1)`` outlined and labelled at its top-left corner."""
    out = img.convert("RGB").copy()
    d = ImageDraw.Draw(out)
    s = _scale(out)
    width, px = max(2, round(0.5 * s)), max(10, round(3.2 * s))
    for (x0, y0, x1, y1), label in zip(boxes, labels):
        colour = BOX_COLOURS.get(label, RED)
        d.rectangle([x0, y0, x1, y1], outline=colour, width=width)
        draw_label(out, (x0 + width + 1, y0 + width + 1), label, px, colour)
    return out


def black_out(img: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    """A copy of ``img`` with ``box`` filled black (Jigsaw's missing corner)."""
    out = img.convert("RGB").copy()
    ImageDraw.Draw(out).rectangle([box[0], box[1], box[2] - 1, box[3] - 1], fill=(0, 0, 0))
    return out


def limit_size(img: Image.Image, longest: int = 1024) -> Image.Image:
    """``img`` as RGB, downscaled so its longer side is at most ``longest`` px; returns the scale too
    via ``img.info['scale']`` (annotations in source pixels are multiplied by it)."""
    img = img.convert("RGB")
    scale = min(1.0, longest / max(img.width, img.height))
    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.BICUBIC)
    img.info["scale"] = scale
    return img
