"""The task base: :class:`Task`, the splits and sources, and the helpers every task family shares
(argument checks, seeded pool samples, option checks, BLINK metadata, task-id parsing).

Task families (``blink``, ``custom``, ``synthetic``) import this module; the factory in
:mod:`pgfselect.tasks.registry` imports them.
"""

from __future__ import annotations

import inspect

import numpy as np

from ..errors import PGFSelectError
from ..names import BLINK_TASKS, blink_tasks, resolve
from .schema import PROMPT_VERSION, Item

SOURCES = ("blink", "synthetic", "custom")
SPLITS = ("train", "val", "test")


class Task:
    """A multiple-choice task: metadata plus deterministic access to its items.

    Subclasses implement :meth:`_items`; :meth:`items` validates the arguments first.
    """

    source: str = ""
    answer_type: str = "choice"  # or "number"/"text" (open-ended, scored by generation)
    scoring: dict = {}  # open-ended scoring options (number: tolerance, metric); read-only

    def __init__(self, name: str, *, n_choices: int, n_images: int | None, level: str = "unknown",
                 granularity: str = "unknown", description: str = "", options: dict | None = None):
        self.name = name
        self.id = f"{self.source}:{name}"
        self.n_choices = n_choices
        self.n_images = n_images
        self.level = level
        self.granularity = granularity
        self.description = description
        self.options = dict(options or {})

    def __repr__(self) -> str:
        return f"<Task {self.id} ({self.n_choices} choices)>"

    def items(self, split: str = "val", n: int | None = None, seed: int = 0) -> list[Item]:
        """Items of ``split`` (train/val/test). Deterministic for (split, n, seed); val and test
        never share items with train. ``n=None``: every item of a fixed split (BLINK, custom) or
        the default size of a generated one (synthetic); otherwise ``n`` items, a seeded sample
        of a fixed split."""
        return self._items(check_split(split), check_n(n), check_seed(seed))

    def _items(self, split: str, n: int | None, seed: int) -> list[Item]:
        raise NotImplementedError

    def split_sizes(self) -> dict[str, int | None]:
        """Number of items per split (``None``: unbounded, as for synthetic tasks)."""
        raise NotImplementedError

    def provenance(self) -> dict:
        """What a result computed on this task must record to be reproducible."""
        return {"task": self.id, "source": self.source, "prompt_version": PROMPT_VERSION,
                "options": dict(self.options)}

    def info(self) -> dict:
        """JSON-ready description (``pgfselect tasks list/show``)."""
        return {"id": self.id, "name": self.name, "source": self.source, "n_choices": self.n_choices,
                "n_images": self.n_images, "level": self.level, "granularity": self.granularity,
                "description": self.description, "answer_type": self.answer_type}


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise PGFSelectError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    return split


def check_n(n) -> int | None:
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise PGFSelectError(f"number of items n={n!r} must be a positive integer")
    return n


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PGFSelectError(f"seed {seed!r} must be a non-negative integer")
    return seed


def sample_pool(pool: list[Item], n: int | None, seed: int, what: str) -> list[Item]:
    """All of a fixed pool (``n=None``, in order) or a seeded sample of ``n`` items, kept in
    pool order. ``what`` names the pool in the error message."""
    if n is None:
        return list(pool)
    if n > len(pool):
        raise PGFSelectError(f"{what}: asked for n={n} items; it has {len(pool)}")
    keep = np.sort(np.random.default_rng(seed).permutation(len(pool))[:n])
    return [pool[i] for i in keep]


def construct(cls, name: str, options: dict):
    """``cls(name, **options)`` with unknown option names reported as a user error."""
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "name")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise PGFSelectError(f"option(s) {', '.join(unknown)} do not apply to {cls.source} tasks; "
                             f"allowed: {', '.join(allowed)}")
    return cls(name, **options)


def blink_meta(name: str) -> dict:
    """Registry metadata of a BLINK task (shared by its synthetic analogue)."""
    t = blink_tasks()[name]
    return {"n_choices": t.n_choices, "n_images": t.n_images, "level": t.level,
            "granularity": t.granularity}


def split_id(task_id: str) -> tuple[str, str]:
    """``'Synthetic:CT'`` -> ``('synthetic', 'CT')``; errors name the allowed sources."""
    if not isinstance(task_id, str) or not task_id.strip():
        raise PGFSelectError(f"task id {task_id!r} must be a non-empty string such as 'synthetic:Counting'")
    source, sep, name = task_id.strip().partition(":")
    if not sep:
        try:
            bare = resolve(source, BLINK_TASKS)
            hint = f"did you mean 'synthetic:{bare}' or 'blink:{bare}'?"
        except PGFSelectError:
            hint = "for example 'synthetic:Counting', 'blink:Counting' or 'custom:NAME'"
        raise PGFSelectError(f"task id {task_id!r} needs a source prefix ({', '.join(SOURCES)}); {hint}")
    source = source.strip().lower()
    if source not in SOURCES:
        raise PGFSelectError(f"unknown task source {source!r} in {task_id!r}; allowed: {', '.join(SOURCES)}")
    if not name.strip():
        raise PGFSelectError(f"task id {task_id!r} has no task name after '{source}:'")
    return source, name.strip()
