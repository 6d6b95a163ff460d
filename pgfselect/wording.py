"""Small text helpers for messages and tables: counts with the right plural."""

from __future__ import annotations


def plural(n, word: str, many: str | None = None, sep: str = " ") -> str:
    """'1 seed', '2 seeds', '1,000 examples' (``many`` for irregular plurals)."""
    text = f"{n:,}" if isinstance(n, int) and not isinstance(n, bool) else f"{n}"
    return f"{text}{sep}{word if n == 1 else (many or word + 's')}"
