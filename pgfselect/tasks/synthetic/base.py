"""The generator contract and the table of generators (filled in by the task modules)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np


@dataclass
class Sample:
    """What a generator returns for one item (the task wraps it into an :class:`Item`)."""

    images: list
    question: str
    choices: list[str]
    answer: int
    meta: dict = field(default_factory=dict)


# fn(rng, target, size, difficulty) -> Sample. ``target`` is the answer class the caller wants
# (balanced over items); ``size`` the base image size in px; ``difficulty`` in [0, 1].
Generator = Callable[[np.random.Generator, int, int, float], Sample]


@dataclass(frozen=True)
class Spec:
    name: str  # BLINK config name
    fn: Generator
    skills: tuple[str, ...]
    summary: str


GENERATORS: dict[str, Spec] = {}


def generator(name: str, skills: tuple[str, ...], summary: str):
    """Register ``fn`` as the synthetic analogue of BLINK task ``name``."""

    def wrap(fn: Generator) -> Generator:
        GENERATORS[name] = Spec(name, fn, tuple(skills), summary)
        return fn

    return wrap


def multi_size(size: int, n_images: int) -> int:
    """Per-image size of multi-image tasks: 3-4 images are drawn at half size (56 px at the
    default 112) so an item stays under ~20 visual tokens for a tiny model."""
    return size if n_images <= 2 else max(28, size // 2)
