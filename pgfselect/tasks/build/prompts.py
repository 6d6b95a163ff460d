"""BLINK's wording per task: the instruction text of its ``prompt`` and its short ``question``.

Copied from ../shared/notes/blink-sources.md (BLINK val/test items quoted by third parties, marked
[C3] there). pgfselect's prompt format appends "Select from the following choices." and the
lettered options itself (schema.format_prompt), so the texts here stop before that line.

Two wordings (``tasks build --wording``):
- ``question`` (default): BLINK's short ``question`` field, which is what ``blink:TASK`` items carry
  in pgfselect (blink.py reads ``question``), so training and evaluation prompts match.
- ``prompt``: BLINK's long instruction (what the official eval feeds the model).
Where the short question of a task has not been seen in a BLINK item, it equals the prompt text
(``SHORT_KNOWN`` is False): both wordings give the same text.
"""

from __future__ import annotations

from ..schema import letters

ORDINAL = ["first", "second", "third", "fourth"]
IMAGE_CHOICES = {n: [f"the {ORDINAL[i]} image" for i in range(1, n)] for n in (3,)}
POINT_CHOICES = [f"Point {x}" for x in letters(4)]

_CORR_TAIL = ('You are given multiple red-circled points on the second image, choices of "A, B, C, D" are drawn '
              "beside each circle.")

# task -> (prompt text, short question or None when unknown); {obj}/{subj}/{rel} are filled per item
WORDING: dict[str, tuple[str, str | None]] = {
    "Counting": ("How many {obj} are there?", "How many {obj} are there?"),
    "Object_Localization": (
        "A bounding box is an annotated rectangle surrounding an object. The edges of bounding boxes should "
        "touch the outermost pixels of the object that is being labeled. Given the two bounding boxes on the "
        "image, labeled by A and B, which bounding box more accurately localizes and encloses the {obj}?",
        "Given the two bounding boxes on the image, labeled by A and B, which bounding box more accurately "
        "localizes and encloses the {obj}?"),
    "Spatial_Relation": ("Is the {subj} {rel} the {obj}?", "Is the {subj} {rel} the {obj}?"),
    "Jigsaw": (
        "Given the first image with the lower right corner missing, can you tell which one of the second image "
        "or the third image is the missing part? Imagine which image would be more appropriate to place in the "
        "missing spot. You can also carefully observe and compare the edges of the images.", None),
    "Relative_Depth": (
        "Two points are circled on the image, labeled by A and B beside each circle. Which point is closer to "
        "the camera?", None),
    "Relative_Reflectance": (
        "Two points are annotated on the image, labeled by A and B. Consider the surface color of the points "
        "(the albedo of the surface, without the effect of shading). Which point has darker surface color, or "
        "the colors is about the same?", None),  # "the colors is": BLINK's own spelling, kept
    "Semantic_Correspondence": (
        "Humans can find corresponding points for different objects in the same category. For instance, if "
        "there are images of two different cats, then the left ear tip of one cat corresponds to the left ear "
        "tip of the other cat, and the right front paw of one cat corresponds to the right front paw of the "
        "other cat.\nGiven the following two images, a reference point is annotated on the first image, "
        f"labeled with REF. {_CORR_TAIL} Select between the choices on the second image and find the "
        "corresponding point for the reference point. Which point is corresponding to the reference point?",
        "Which point is corresponding to the reference point?"),
    "Visual_Correspondence": (
        "A point is circled on the first image, labeled with REF. We change the camera position or lighting "
        f"and shoot the second image. {_CORR_TAIL} Which point on the second image corresponds to the point "
        "in the first image?", None),
    "Art_Style": (
        # The middle of this prompt was truncated in the only copy seen; the list of styles and the
        # "Given the following images" clause are UNCONFIRMED (see the data card).
        "Some most common art painting styles include Realism, Impressionism, Expressionism, Pop Art, and "
        "Cubism. Given the following images of art paintings, use the first image as the reference image, and "
        "determine which one of the second or the third image shares the same style as the reference image?",
        None),
    "Visual_Similarity": (
        "Given three similar but different images, take the first image as reference. Can you tell which one "
        "of the latter two images is most similar to the first one?", None),
    "Forensic_Detection": (
        "You are a judge in a photography competition, and now you are given the four images. Please examine "
        "the details and tell which one of them is most likely to be a real photograph.", None),
}

CHOICES: dict[str, list[str]] = {
    "Object_Localization": ["Box A", "Box B"],
    "Spatial_Relation": ["yes", "no"],
    "Jigsaw": IMAGE_CHOICES[3],
    "Relative_Depth": ["A is closer", "B is closer"],
    "Relative_Reflectance": ["A is darker", "B is darker", "About the same"],
    "Semantic_Correspondence": POINT_CHOICES,
    "Visual_Correspondence": POINT_CHOICES,
    "Art_Style": IMAGE_CHOICES[3],
    "Visual_Similarity": IMAGE_CHOICES[3],
    "Forensic_Detection": [f"the {o} image" for o in ORDINAL],
}

WORDINGS = ("question", "prompt")


def question(task: str, wording: str = "question", **fields) -> str:
    prompt, short = WORDING[task]
    text = short if wording == "question" and short is not None else prompt
    return text.format(**fields)


def short_known(task: str) -> bool:
    return WORDING[task][1] is not None


_IRREGULAR = {"person": "people", "mouse": "mice", "knife": "knives", "sheep": "sheep", "skis": "skis",
              "scissors": "scissors", "child": "children", "man": "men", "woman": "women", "fish": "fish"}


def plural(noun: str) -> str:
    """English plural of a category name ("bus" -> "buses", LVIS "bow (weapon)" -> "bows (weapon)"),
    for the counting question."""
    noun, paren, note = noun.partition(" (")
    if paren:
        return f"{plural(noun)} ({note}"
    head, _, last = noun.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR:
        out = _IRREGULAR[low]
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        out = last + "es"
    elif low.endswith("y") and low[-2:-1] not in "aeiou":
        out = last[:-1] + "ies"
    else:
        out = last + "s"
    return f"{head} {out}" if head else out
