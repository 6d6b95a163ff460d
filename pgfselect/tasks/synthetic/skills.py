"""The visual skills the synthetic tasks are built from.

Each generator declares the skills it needs (see ``base.generator``). Two tasks sharing skills
are expected to transfer to each other; :func:`expected_overlap` turns the table into the
matrix of expectations that a measured PGF matrix can be checked against.
"""

from __future__ import annotations

from PIL import ImageDraw

from . import correspondence, geometry, objects, points, textures  # noqa: F401  (fill GENERATORS)
from .base import GENERATORS
from .primitives import MARK_COLOURS

SKILLS = {
    "marked-points": "find the colour-coded marks labelled A-D (A red, B blue, C green, D yellow) "
                     "and answer with the label of the one that satisfies the question",
    "depth": "read depth on a perspective floor: height in the image, size, converging lines",
    "brightness": "compare surface lightness under an uneven illumination gradient",
    "shapes": "recognise shape classes and colours (circle, square, triangle, diamond; object parts)",
    "counting": "enumerate the objects of one class",
    "layout": "2-D position: left/right/above/below, where a box sits relative to an object",
    "texture": "pattern statistics: stripes/dots/checks/waves, period, orientation, palette",
    "point-matching": "find the point of a second image that corresponds to the REF point of the first",
    "image-comparison": "compare whole images with each other (which one matches, fits or differs; how content moved)",
    "geometry": "camera motion and patch geometry: shifts, parallax, continuity across edges",
    "artifacts": "unnatural image statistics: periodic upsampling grids, banding, inconsistent shadows",
}


def skills_table() -> dict[str, tuple[str, ...]]:
    """Task name -> skills it needs, for the 13 synthetic tasks."""
    return {name: spec.skills for name, spec in sorted(GENERATORS.items())}


def expected_overlap() -> tuple[list[str], list[list[float]]]:
    """Jaccard overlap of the skill sets, task x task (1 on the diagonal)."""
    table = skills_table()
    names = list(table)
    sets = [set(table[n]) for n in names]
    return names, [[len(a & b) / len(a | b) for b in sets] for a in sets]


# Skill cues: a row of small squares around the border of the first image, one fixed place per
# skill (the border cells of a 4x4 grid, in SKILLS order). In a task's item the squares of the
# task's own skills show the colour of the answer's letter (MARK_COLOURS) with probability
# ``reliability``, any letter otherwise; the squares of other skills are always random.
# A tiny model cannot learn BLINK-like skills that carry over between tasks in a few hundred CPU
# steps (docs/notes/tiny-learnability.md); it can learn to read a square. The cues make the
# skills table's transfer structure real for it: a finetune on a task teaches it to read that
# task's skill squares, which helps exactly the tasks that share those skills.
_BORDER = [(0, c) for c in range(4)] + [(r, 3) for r in (1, 2, 3)] + [(3, c) for c in (2, 1, 0)] + [(2, 0), (1, 0)]
CUE_CELLS = dict(zip(SKILLS, _BORDER))


def draw_skill_cues(img, skills: tuple[str, ...], answer: int, n_choices: int, reliability: float,
                    rng) -> None:
    """Draw the skill squares on ``img`` (in place): see the comment above."""
    letters = list(MARK_COLOURS)[:n_choices]
    cell = img.size[0] / 4
    side = max(3, round(cell / 2))
    draw = ImageDraw.Draw(img)
    for skill, (row, col) in CUE_CELLS.items():
        random_letter = int(rng.integers(n_choices))
        honest = skill in skills and rng.random() < reliability
        x0, y0 = round(col * cell), round(row * cell)
        draw.rectangle((x0, y0, x0 + side - 1, y0 + side - 1),
                       fill=MARK_COLOURS[letters[answer if honest else random_letter]])
