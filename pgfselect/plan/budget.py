"""Budgets and example counts in training examples: '2k', '1.5k', '500', '10k', '2000'."""

from __future__ import annotations

import re

from ..errors import PGFSelectError

MAX_EXAMPLES = 10**9  # far beyond any finetuning set; catches '1e99' and typos
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kKmM]?)\s*$")


def parse_examples(text: str | int, what: str = "budget") -> int:
    """Parse a positive whole number of training examples with an optional k/M suffix."""
    if isinstance(text, bool):
        raise PGFSelectError(f"{what} {text!r} is not a number of examples")
    if isinstance(text, int):
        value = float(text)
    else:
        m = _PATTERN.match(str(text))
        if not m and _PATTERN.match(str(text).strip().lstrip("-")):
            raise PGFSelectError(f"{what} {text!r} must be at least 1 example (a positive number such as "
                                 "500, 2k)")
        if not m:
            raise PGFSelectError(f"{what} {text!r} is not a number of training examples; "
                                 "use e.g. 500, 2000, 1.5k, 2k, 10k")
        value = float(m.group(1)) * {"": 1, "k": 1e3, "m": 1e6}[m.group(2).lower()]
    if value != int(value):
        raise PGFSelectError(f"{what} {text!r} is not a whole number of examples")
    if value <= 0:
        raise PGFSelectError(f"{what} {text!r} must be at least 1 example")
    if value > MAX_EXAMPLES:
        raise PGFSelectError(f"{what} {text!r} is above the limit of {MAX_EXAMPLES:,} examples")
    return int(value)
