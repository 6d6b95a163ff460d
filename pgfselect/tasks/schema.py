"""The item schema and the one prompt format shared by training and scoring.

Training (the completion trained on) and scoring (the option letters compared at the answer
position) both go through :func:`format_prompt` and :func:`answer_text`, so the two can never
drift apart; :data:`PROMPT_VERSION` is recorded in every output and must be bumped whenever the
format changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import PGFSelectError

# v1: BLINK-style: question, "Select from the following choices.", "(A) text" lines, instruction.
PROMPT_VERSION = "1"

MAX_CHOICES = 26
MAX_IMAGES = 4
INSTRUCTION = "Answer with the option's letter from the given choices directly."
# Answer types: choice (option letters, scored by their logits), number and text (open-ended,
# scored by greedy generation; see pgfselect.measure.generation). Choice prompts are unchanged
# by the open-ended types, so PROMPT_VERSION 1 still names every choice prompt ever written.
ANSWER_TYPES = ("choice", "number", "text")
OPEN_INSTRUCTIONS = {"number": "Answer with a single number.", "text": "Answer with a single word or phrase."}


@dataclass
class Item:
    """One item. ``images`` are 1-4 RGB ``PIL.Image.Image`` in the order the question refers to
    them. Multiple choice (``answer_type`` "choice"): ``choices`` are option texts without letters
    and ``answer`` indexes them. Open-ended ("number", "text"): ``choices`` is empty, ``answer``
    is -1, ``target`` is the answer as written and ``aliases`` other accepted answers."""

    id: str
    images: list
    question: str
    choices: list[str]
    answer: int
    meta: dict = field(default_factory=dict, repr=False, compare=False)  # e.g. generator params
    answer_type: str = "choice"
    target: str | None = None
    aliases: list[str] = field(default_factory=list)

    @property
    def answer_letter(self) -> str:
        return answer_text(self)

    def record(self, image_paths: list[str] | None = None) -> dict:
        """A JSON-serialisable record (the export and custom-task JSONL format)."""
        if self.answer_type != "choice":
            out = {"id": self.id, "question": self.question, "answer": self.target}
            if self.aliases:
                out["aliases"] = list(self.aliases)
        else:
            out = {"id": self.id, "question": self.question, "choices": list(self.choices),
                   "answer": self.answer, "answer_letter": answer_text(self)}
        if image_paths is not None:
            out["images"] = list(image_paths)
        if "source" in self.meta:  # where a built item came from (tasks build): kept through export
            out["source"] = self.meta["source"]
        return out


def letters(n: int) -> list[str]:
    """The first ``n`` option letters: ``letters(3) == ["A", "B", "C"]``."""
    if not 1 <= n <= MAX_CHOICES:
        raise PGFSelectError(f"number of choices {n} is out of range; allowed: 1-{MAX_CHOICES}")
    return [chr(ord("A") + i) for i in range(n)]


def format_prompt(item: Item) -> str:
    """The user text for ``item`` (images are passed beside it, before the text)."""
    if item.answer_type != "choice":
        return "\n".join([item.question, OPEN_INSTRUCTIONS[item.answer_type]])
    options = [f"({letter}) {text}" for letter, text in zip(letters(len(item.choices)), item.choices)]
    return "\n".join([item.question, "Select from the following choices.", *options, INSTRUCTION])


def answer_text(item: Item) -> str:
    """The completion trained on and the letter scored: e.g. ``"B"`` (open-ended: the answer)."""
    if item.answer_type != "choice":
        return item.target
    return letters(len(item.choices))[item.answer]


_ANSWER = re.compile(r"^\s*\(?\s*([A-Za-z])\s*\)?\s*$")


def parse_answer(value, n_choices: int, where: str = "") -> int:
    """An answer given as an index (``1``), a letter (``"B"``) or BLINK's ``"(B)"`` -> index."""
    prefix = f"{where}: " if where else ""
    if isinstance(value, bool):
        raise PGFSelectError(f"{prefix}answer {value!r} is not an index or a letter")
    if isinstance(value, int):
        index = value
    elif isinstance(value, str) and _ANSWER.match(value):
        index = ord(_ANSWER.match(value).group(1).upper()) - ord("A")
    else:
        raise PGFSelectError(f"{prefix}answer {value!r} is not an index (0-based) or a letter such as 'B' or '(B)'")
    if not 0 <= index < n_choices:
        raise PGFSelectError(f"{prefix}answer {value!r} is out of range for {n_choices} choices "
                             f"(allowed: 0-{n_choices - 1} or {letters(n_choices)[0]}-{letters(n_choices)[-1]})")
    return index


def validate_item(item: Item, n_choices: int | None = None, where: str = "") -> Item:
    """Check ``item`` against the schema (and the task's number of choices); return it.

    ``where`` ("file.jsonl:12") starts the one-line error message.
    """
    prefix = f"{where}: " if where else f"item {item.id!r}: "
    if not isinstance(item.id, str) or not item.id:
        raise PGFSelectError(f"{prefix}id must be a non-empty string")
    if not isinstance(item.question, str) or not item.question.strip():
        raise PGFSelectError(f"{prefix}question must be a non-empty string")
    if not 1 <= len(item.images) <= MAX_IMAGES:
        raise PGFSelectError(f"{prefix}has {len(item.images)} images; allowed: 1-{MAX_IMAGES}")
    if item.answer_type != "choice":
        return validate_open_answer(item, prefix)
    if not isinstance(item.choices, (list, tuple)) or not all(isinstance(c, str) for c in item.choices):
        raise PGFSelectError(f"{prefix}choices must be a list of strings")
    if n_choices is not None and len(item.choices) != n_choices:
        raise PGFSelectError(f"{prefix}has {len(item.choices)} choices; the task has {n_choices}")
    if not 2 <= len(item.choices) <= MAX_CHOICES:
        raise PGFSelectError(f"{prefix}has {len(item.choices)} choices; allowed: 2-{MAX_CHOICES}")
    if isinstance(item.answer, bool) or not isinstance(item.answer, int) or not 0 <= item.answer < len(item.choices):
        raise PGFSelectError(f"{prefix}answer {item.answer!r} is out of range for {len(item.choices)} choices")
    return item


def parse_number(text) -> float | None:
    """``"7"``, ``" 3.5 "``, ``"1,200"`` -> a float; None when ``text`` is not one number."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    if not isinstance(text, str):
        return None
    t = text.strip().replace(",", "")
    try:
        value = float(t)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None  # no NaN, no inf


def validate_open_answer(item: Item, prefix: str) -> Item:
    if item.answer_type not in ANSWER_TYPES:
        raise PGFSelectError(f"{prefix}answer type {item.answer_type!r} is unknown; allowed: {', '.join(ANSWER_TYPES)}")
    if not isinstance(item.target, str) or not item.target.strip():
        raise PGFSelectError(f"{prefix}answer is empty; an open-ended item needs a non-empty answer")
    if item.answer_type == "number" and parse_number(item.target) is None:
        raise PGFSelectError(f"{prefix}answer {item.target!r} is not a number (answer type number)")
    if not isinstance(item.aliases, list) or not all(isinstance(a, str) and a.strip() for a in item.aliases):
        raise PGFSelectError(f"{prefix}aliases must be a list of non-empty strings")
    return item
