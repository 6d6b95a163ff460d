"""A done/total progress bar with elapsed time and ETA (rich, on stderr), for long grids of work.
Silent when disabled; rich is imported only when shown."""

from __future__ import annotations


class Progress:
    """``with Progress("measure", "cells", enabled, total, done) as p: p.advance("last: x")``."""

    def __init__(self, label: str, unit: str, enabled: bool, total: int, done: int = 0):
        self.label, self.unit = label, unit
        self.enabled, self.total, self.done = enabled, total, done

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self._p = Progress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                               TextColumn("{task.description}"), console=Console(stderr=True))
            self._p.__enter__()
            self._task = self._p.add_task("", total=self.total, completed=self.done)
            if self.done:
                self.log(f"reusing {self.done} of {self.total} finished {self.unit}")
        return self

    def log(self, msg: str) -> None:
        if self.enabled:
            self._p.console.log(msg)

    def describe(self, what: str) -> None:
        if self.enabled:
            self._p.update(self._task, description=what)

    def advance(self, what: str | None = None) -> None:
        if self.enabled:
            self._p.update(self._task, advance=1, **({"description": what} if what else {}))

    def __exit__(self, *exc):
        if self.enabled:
            self._p.__exit__(*exc)
        return False
