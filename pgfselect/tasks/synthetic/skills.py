"""The visual skills the synthetic tasks are built from.

Each generator declares the skills it needs (see ``base.generator``). Two tasks sharing skills
are expected to transfer to each other; :func:`expected_overlap` turns the table into the
matrix of expectations that a measured PGF matrix can be checked against.
"""

from __future__ import annotations

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
    from . import GENERATORS

    return {name: spec.skills for name, spec in sorted(GENERATORS.items())}


def expected_overlap() -> tuple[list[str], list[list[float]]]:
    """Jaccard overlap of the skill sets, task x task (1 on the diagonal)."""
    table = skills_table()
    names = list(table)
    sets = [set(table[n]) for n in names]
    return names, [[len(a & b) / len(a | b) for b in sets] for a in sets]
