"""Visual primitives shared by the synthetic tasks.

Sharing is deliberate: it is the transfer structure the suite is built to have.
- marked points and boxes: colour-coded rings/boxes labelled A-D (A red, B blue, C green,
  D yellow) used by depth, reflectance, the three correspondence tasks and localisation;
- shapes: circle/square/triangle/diamond in named colours (counting, localisation, spatial
  relation, the parts of creatures and tools);
- ground-plane scenes: a perspective floor whose depth cues (height in the image, size,
  converging lines) serve relative depth, multi-view reasoning and forensics;
- textures: striped/dotted/checked/wavy patterns (art style, similarity, forensics, jigsaw).
Everything is plain PIL drawing plus numpy, fast enough for >500 items/s at 112 px.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "red": (215, 40, 40), "green": (40, 160, 60), "blue": (45, 85, 225), "yellow": (235, 200, 35),
    "purple": (145, 60, 195), "orange": (240, 130, 30), "cyan": (40, 190, 200), "pink": (235, 120, 180),
}
SHAPES = ("circle", "square", "triangle", "diamond")
PLURAL = {"circle": "circles", "square": "squares", "triangle": "triangles", "diamond": "diamonds"}

# Label colours: the same letter is always the same colour, in every task that marks points or
# boxes, so "the answer is the label of the point/box that ..." is one shared skill.
MARK_COLOURS = {"A": (230, 30, 30), "B": (30, 90, 255), "C": (20, 180, 40), "D": (250, 210, 0)}
REF_COLOUR = (255, 255, 255)


def rng_choice(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def object_palette(rng: np.random.Generator, difficulty: float, dark=(20, 20, 20)) -> list[tuple]:
    """Fill colours for an item's objects where colour is not what the question is about.

    Colour is the nuisance the tiny model struggles with most (measured: it learns to count black
    shapes within 600-1000 steps and coloured ones not at all), so easy items draw such objects
    in one dark ink and colours come in with difficulty (all items coloured from 0.5 on).
    """
    return list(COLOURS.values()) if rng.random() < 2 * difficulty else [dark]


@lru_cache(maxsize=16)
def font(px: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, px))


@lru_cache(maxsize=256)
def _label_sprite(text: str, px: int, colour: tuple) -> Image.Image:
    """A pre-rendered outlined label (RGBA); pasting it is ~10x faster than drawing text."""
    f = font(px)
    x0, y0, x1, y1 = f.getbbox(text, stroke_width=1)
    sprite = Image.new("RGBA", (x1 + 1, y1 + 1), (0, 0, 0, 0))
    ImageDraw.Draw(sprite).text((0, 0), text, fill=colour + (255,), font=f, stroke_width=1,
                                stroke_fill=(0, 0, 0, 255))
    return sprite


def draw_label(img: Image.Image, xy: tuple[float, float], text: str, px: int, colour) -> None:
    """Outlined text with its top-left corner at ``xy``."""
    sprite = _label_sprite(text, max(6, px), tuple(colour))
    img.paste(sprite, (int(round(xy[0])), int(round(xy[1]))), sprite)


def canvas(size: int, colour=(235, 235, 235)) -> Image.Image:
    return Image.new("RGB", (size, size), colour)


def shape_polygon(kind: str, cx: float, cy: float, r: float, angle: float = 0.0) -> list[tuple[float, float]]:
    """Vertices of a shape of 'radius' r (circle: None-like, handled by draw_shape)."""
    if kind == "square":
        base = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
        scale = r * 0.85
    elif kind == "triangle":
        base = [(0, -1.1), (1.0, 0.75), (-1.0, 0.75)]
        scale = r
    elif kind == "diamond":
        base = [(0, -1.15), (0.85, 0), (0, 1.15), (-0.85, 0)]
        scale = r
    else:
        raise ValueError(kind)
    c, s = np.cos(angle), np.sin(angle)
    return [(cx + scale * (x * c - y * s), cy + scale * (x * s + y * c)) for x, y in base]


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, cx: float, cy: float, r: float, fill,
               outline=None, angle: float = 0.0) -> tuple[float, float, float, float]:
    """Draw a shape; return its bounding box (x0, y0, x1, y1)."""
    if kind == "circle":
        box = (cx - r, cy - r, cx + r, cy + r)
        draw.ellipse(box, fill=fill, outline=outline)
        return box
    pts = shape_polygon(kind, cx, cy, r, angle)
    draw.polygon(pts, fill=fill, outline=outline)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return (min(xs), min(ys), max(xs), max(ys))


def grid_positions(rng: np.random.Generator, size: int, k: int, cells: int = 4,
                   margin: float = 0.5) -> list[tuple[float, float, float]]:
    """``k`` non-overlapping (cx, cy, max_radius) slots: distinct cells of a cells x cells grid,
    jittered inside the cell (fast, and never overlapping, unlike rejection sampling)."""
    cell = size / cells
    chosen = rng.choice(cells * cells, size=k, replace=False)
    out = []
    for c in chosen:
        gx, gy = divmod(int(c), cells)
        jitter = rng.uniform(-0.12, 0.12, size=2) * cell
        out.append(((gx + 0.5) * cell + jitter[0], (gy + 0.5) * cell + jitter[1], cell * margin - 2))
    return out


def draw_mark(img: Image.Image, label: str, x: float, y: float, size: int, colour=None) -> None:
    """A labelled ring around (x, y): the ring leaves the marked pixel visible, as in BLINK."""
    draw = ImageDraw.Draw(img)
    colour = colour or MARK_COLOURS[label]
    r = max(3.0, size * 0.045)
    w = max(1, round(size / 56))
    draw.ellipse((x - r - w, y - r - w, x + r + w, y + r + w), outline=(255, 255, 255), width=w)
    draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=w + 1)
    fpx = max(7, round(size * 0.1))
    tx = x + r + 1 if x < size * 0.8 else x - r - fpx * 0.7 - 1
    ty = y - r - fpx * 0.9 if y > size * 0.2 else y + r
    draw_label(img, (tx, ty), label, fpx, colour)


def draw_ref(img: Image.Image, x: float, y: float, size: int) -> None:
    """The reference mark of the correspondence tasks: a black-and-white ring labelled REF."""
    draw = ImageDraw.Draw(img)
    r = max(3.0, size * 0.045)
    w = max(1, round(size / 56))
    draw.ellipse((x - r - w, y - r - w, x + r + w, y + r + w), outline=(0, 0, 0), width=w)
    draw.ellipse((x - r, y - r, x + r, y + r), outline=REF_COLOUR, width=w + 1)
    fpx = max(7, round(size * 0.08))
    tx = x + r + 1 if x < size * 0.7 else x - r - fpx * 1.8
    ty = y - r - fpx * 0.9 if y > size * 0.2 else y + r
    draw_label(img, (tx, ty), "REF", fpx, REF_COLOUR)


@lru_cache(maxsize=1)
def _noise_bank() -> np.ndarray:
    # One fixed field of standard normal noise; each image takes a random window of it. Drawing
    # fresh normals per pixel cost ~1 ms per image, most of the generation time.
    return np.random.default_rng(20260101).standard_normal((640, 640, 3)).astype(np.float32)


def add_noise(img: Image.Image, rng: np.random.Generator, sigma: float) -> Image.Image:
    """Gaussian pixel noise (the difficulty knob's generic part)."""
    if sigma <= 0:
        return img
    arr = np.asarray(img, dtype=np.float32)
    h, w = arr.shape[:2]
    bank = _noise_bank()
    if h > bank.shape[0] or w > bank.shape[1]:
        noise = rng.standard_normal(arr.shape, dtype=np.float32)
    else:
        y, x = rng.integers(0, bank.shape[0] - h + 1), rng.integers(0, bank.shape[1] - w + 1)
        noise = bank[y:y + h, x:x + w]
    arr += noise * np.float32(sigma)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def far_apart(rng: np.random.Generator, k: int, lo: float, hi: float, min_dist: float,
              avoid: list[tuple[float, float]] = (), tries: int = 200) -> list[tuple[float, float]]:
    """``k`` points in [lo, hi]^2 at least ``min_dist`` from each other and from ``avoid``
    (the distance is relaxed when the square is too crowded, so this always returns)."""
    pts: list[tuple[float, float]] = []
    dist = min_dist
    for _ in range(k):
        for attempt in range(tries):
            p = tuple(rng.uniform(lo, hi, size=2))
            if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= dist ** 2 for q in [*pts, *avoid]):
                pts.append(p)
                break
            if attempt % 40 == 39:
                dist *= 0.8
        else:
            pts.append(tuple(rng.uniform(lo, hi, size=2)))
    return pts


# ---------------------------------------------------------------- ground-plane scenes (depth)

class GroundCamera:
    """A pinhole camera over a flat floor. Depth z >= 1; z = 1 projects to the bottom row.

    ``cam_x`` moves the camera sideways; ``fix_z`` (fixation depth) turns a sideways move into
    an orbit: points at depth ``fix_z`` keep their screen position (multi-view reasoning).
    """

    def __init__(self, size: int, horizon: float = 0.35, cam_x: float = 0.0, fix_z: float = np.inf):
        self.size, self.yh = size, horizon * size
        self.cam_x, self.fix_z = cam_x, fix_z

    def project(self, x: float, z: float) -> tuple[float, float, float]:
        """(screen x, screen y of the floor point, pixels per world unit) at world (x, z)."""
        f = self.size / 2
        shift = -self.cam_x * f * (1.0 / z - (0.0 if np.isinf(self.fix_z) else 1.0 / self.fix_z))
        sx = self.size / 2 + x * f / z + shift
        sy = self.yh + (self.size - self.yh) / z
        return sx, sy, f / z


def ground_colours(rng: np.random.Generator, amount: float = 1.0) -> dict:
    """Sky, floor and grid-line colours, jittered per scene by up to ``amount`` x 30 levels per
    channel (forensics needs it: no exact colour may mark the real photograph; for the other
    tasks it is a nuisance, so they jitter by their difficulty)."""
    sky = np.array([170, 200, 235]) + np.round(rng.uniform(-25, 25, size=3) * amount)
    floor = np.array([150, 130, 100]) + np.round(rng.uniform(-30, 30, size=3) * amount)
    sky = tuple(int(v) for v in np.clip(sky, 0, 255))
    floor = tuple(int(v) for v in np.clip(floor, 0, 255))
    return {"sky": sky, "floor": floor, "lines": tuple(int(v * 0.72) for v in floor)}


def draw_ground(img: Image.Image, cam: GroundCamera, sky=(170, 200, 235), floor=(150, 130, 100),
                lines=(110, 95, 70), n_rails: int = 7, depths=(1.0, 1.3, 1.8, 2.6, 4.0, 7.0)) -> None:
    """Sky, floor, and the floor's perspective grid (horizontal bands and converging rails)."""
    d = ImageDraw.Draw(img)
    s = cam.size
    d.rectangle((0, 0, s, cam.yh), fill=sky)
    d.rectangle((0, cam.yh, s, s), fill=floor)
    w = max(1, round(s / 112))
    for z in depths:
        y = cam.project(0, z)[1]
        d.line((0, y, s, y), fill=lines, width=w)
    for k in range(n_rails):
        x = (k - (n_rails - 1) / 2) * 0.6
        (x0, y0, _), (x1, y1, _) = cam.project(x, 0.7), cam.project(x, 40.0)
        d.line((x0, y0, x1, y1), fill=lines, width=w)


def draw_ground_object(draw: ImageDraw.ImageDraw, cam: GroundCamera, kind: str, x: float, z: float,
                       radius: float, colour, shadow_dx: float = 0.35) -> tuple[float, float, float]:
    """A shape standing on the floor at (x, z), with a shadow; returns its screen centre and radius."""
    sx, sy, ppu = cam.project(x, z)
    r = radius * ppu
    draw.ellipse((sx - r * 1.1 + shadow_dx * r, sy - r * 0.25, sx + r * 1.1 + shadow_dx * r, sy + r * 0.25),
                 fill=(80, 70, 55))
    cy = sy - r
    draw_shape(draw, kind, sx, cy, r, fill=colour, outline=(30, 30, 30))
    return sx, cy, r


# ------------------------------------------------------------------------------- textures

PATTERNS = ("stripes", "dots", "checks", "waves")


@lru_cache(maxsize=8)
def _coords(size: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x, y


def texture(size: int, pattern: str, colours: tuple, period: float, angle: float,
            phase: float = 0.0) -> np.ndarray:
    """A two-colour pattern as a uint8 HxWx3 array."""
    x, y = _coords(size)
    c, s = float(np.cos(angle)) / period, float(np.sin(angle)) / period
    u = x * c + y * s + phase
    v = y * c - x * s + phase
    # x - floor(x), not x % 1: numpy's float modulo is ~40x slower
    if pattern == "stripes":
        mask = (u - np.floor(u)) < 0.5
    elif pattern == "checks":
        mask = ((np.floor(u) + np.floor(v)).astype(np.int32) & 1) == 0
    elif pattern == "dots":
        mask = ((u - np.floor(u) - 0.5) ** 2 + (v - np.floor(v) - 0.5) ** 2) < 0.09
    elif pattern == "waves":
        w = u + 0.25 * np.sin(v * (2 * np.pi))
        mask = (w - np.floor(w)) < 0.5
    else:
        raise ValueError(pattern)
    lut = np.array([colours[1], colours[0]], dtype=np.uint8)
    return lut[mask.view(np.uint8)]


def to_image(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def random_palette(rng: np.random.Generator) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    names = list(COLOURS)
    i, j = rng.choice(len(names), size=2, replace=False)
    dark = tuple(int(v * 0.45) for v in COLOURS[names[i]])
    return COLOURS[names[j]], dark
