"""The result of scoring one evaluation set: what letter-logit scoring (:mod:`.scoring`) and
open-ended scoring (:mod:`.generation`) both return."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ScoreResult:
    task_id: str
    correct: int
    n: int
    predictions: list[dict]  # per item: id, answer, pred, correct, p (letter probabilities)
    format_ok: float | None = None  # share of generated answers that start with a valid letter

    @property
    def accuracy(self) -> float:
        return self.correct / self.n

    def record(self) -> dict:
        return {"correct": self.correct, "n": self.n, "format_ok": self.format_ok,
                "predictions": self.predictions}
