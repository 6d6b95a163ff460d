"""Procedural synthetic analogues of the 13 BLINK tasks (offline, CPU, any size).

Items are reproducible one by one: item ``i`` of (task, split, seed) is drawn from a numpy
``SeedSequence`` keyed by the task name, the generator version, the split, the seed and ``i``,
so ``items(split, n=10)`` is a prefix of ``items(split, n=20)`` and the splits are independent
random streams (disjoint in practice; the tests check that no image repeats across splits).
Answers are balanced: every block of ``n_choices`` consecutive items holds each answer class
once, in a seeded order, so no majority class exists for a model to exploit.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from ...errors import PGFSelectError
from ...names import blink_tasks
from ..base import Task, blink_meta
from ..schema import Item
from . import correspondence, geometry, objects, points, textures  # noqa: F401  (fill GENERATORS)
from .base import GENERATORS, Spec, multi_size
from .skills import SKILLS, draw_skill_cues, expected_overlap, skills_table

# Bump when any generator's output changes for the same (task, split, seed, index, options).
GENERATOR_VERSION = "2"

SPLIT_KEYS = {"train": 0, "val": 1, "test": 2}
DEFAULT_TRAIN_ITEMS = 1000
DEFAULT_SIZE = 112
# 0 = the clearest cues: what the tiny CPU model can learn in its short runs (see data_cards/synthetic.md)
DEFAULT_DIFFICULTY = 0.0

__all__ = ["SyntheticTask", "GENERATORS", "GENERATOR_VERSION", "SKILLS", "skills_table",
           "expected_overlap", "multi_size", "Spec"]


class SyntheticTask(Task):
    """The synthetic analogue of a BLINK task.

    Options: ``size`` (base image size in px, 28-448; 3-4 image tasks draw each image at half
    size), ``difficulty`` (0-1, default 0: distractors, noise, colour, subtler cues), ``shuffle`` (shuffle option
    order per item; off by default because BLINK keeps options in a fixed order), ``skill_cues``
    (0-1, default 0: off; see :func:`~pgfselect.tasks.synthetic.skills.draw_skill_cues`: the
    probability that each of the task's skill squares shows the answer, which gives a tiny model
    a transfer structure that follows the skills table).
    Default sizes: ``train`` 1000 items, ``val`` and ``test`` the BLINK val size of the task.
    """

    source = "synthetic"

    def __init__(self, name: str, size: int = DEFAULT_SIZE, difficulty: float = DEFAULT_DIFFICULTY,
                 shuffle: bool = False, skill_cues: float = 0.0):
        if name not in GENERATORS:
            raise PGFSelectError(f"no synthetic generator for {name!r}; allowed: {', '.join(sorted(GENERATORS))}")
        if isinstance(size, bool) or not isinstance(size, int) or not 28 <= size <= 448:
            raise PGFSelectError(f"image size {size!r} must be an integer number of px in 28-448")
        if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float)) \
                or not math.isfinite(difficulty) or not 0.0 <= difficulty <= 1.0:
            raise PGFSelectError(f"difficulty {difficulty!r} must be a number in [0, 1]")
        if not isinstance(shuffle, bool):
            raise PGFSelectError(f"shuffle {shuffle!r} must be true or false")
        if isinstance(skill_cues, bool) or not isinstance(skill_cues, (int, float)) \
                or not math.isfinite(skill_cues) or not 0.0 <= skill_cues <= 1.0:
            raise PGFSelectError(f"skill_cues {skill_cues!r} must be a number in [0, 1] (0: off)")
        self.spec = GENERATORS[name]
        super().__init__(name, **blink_meta(name), description=self.spec.summary,
                         options={"size": size, "difficulty": float(difficulty), "shuffle": shuffle,
                                  **({"skill_cues": float(skill_cues)} if skill_cues else {})})
        self.size, self.difficulty, self.shuffle = size, float(difficulty), shuffle
        self.skill_cues = float(skill_cues)
        self.skills = self.spec.skills
        self._entropy = int.from_bytes(
            hashlib.sha256(f"pgfselect/synthetic/{name}/v{GENERATOR_VERSION}".encode()).digest()[:8], "big")

    def split_sizes(self) -> dict[str, int | None]:
        return {"train": None, "val": None, "test": None}

    def default_n(self, split: str) -> int:
        return DEFAULT_TRAIN_ITEMS if split == "train" else blink_tasks()[self.name].val_items

    def _rng(self, split: str, seed: int, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self._entropy, spawn_key=(SPLIT_KEYS[split], seed, *key)))

    def target(self, split: str, seed: int, index: int) -> int:
        """The balanced answer class of item ``index``."""
        k = self.n_choices
        block, pos = divmod(index, k)
        return int(self._rng(split, seed, 1, block).permutation(k)[pos])

    def item(self, split: str, index: int, seed: int = 0) -> Item:
        """Item ``index`` of (split, seed), generated on its own (no need to generate the others)."""
        rng = self._rng(split, seed, 0, index)
        s = self.spec.fn(rng, self.target(split, seed, index), self.size, self.difficulty)
        choices, answer = list(s.choices), s.answer
        if self.shuffle:
            perm = rng.permutation(len(choices))
            choices = [choices[p] for p in perm]
            answer = int(np.flatnonzero(perm == answer)[0])
        assert len(choices) == self.n_choices and len(s.images) == self.n_images, self.name
        if self.skill_cues:  # its own random stream: the items without cues stay as they were
            draw_skill_cues(s.images[0], self.skills, answer, self.n_choices, self.skill_cues,
                            self._rng(split, seed, 2, index))
        return Item(id=f"{self.id}/{split}/s{seed}/{index:06d}", images=s.images, question=s.question,
                    choices=choices, answer=answer, meta=s.meta)

    def _items(self, split: str, n: int | None, seed: int) -> list[Item]:
        n = self.default_n(split) if n is None else n
        return [self.item(split, i, seed) for i in range(n)]

    def provenance(self) -> dict:
        return {**super().provenance(), "generator_version": GENERATOR_VERSION, "dataset_revision": None}

    def info(self) -> dict:
        return {**super().info(), "skills": list(self.skills), "options": dict(self.options),
                "default_items": {s: self.default_n(s) for s in SPLIT_KEYS},
                "image_size": multi_size(self.size, self.n_images)}
