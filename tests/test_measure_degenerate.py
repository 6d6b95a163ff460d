"""Degenerate cells (a finetune that changed nothing) on constructed predictions: fast, no torch."""

from __future__ import annotations

import json

from clirun import run_cli
from pgfselect.measure import engine
from pgfselect.measure.degenerate import degenerate_cells

TASKS = ("A", "B")


def record(preds: dict[str, list[int]], answers: list[int] = (0, 1, 2, 3)) -> dict:
    """A cell record: per task, predictions for items i0..i3 whose answers are ``answers``."""
    return {"results": {t: {"n": len(p), "correct": sum(int(a == b) for a, b in zip(p, answers)),
                            "predictions": [{"id": f"i{k}", "answer": answers[k], "pred": v,
                                             "correct": v == answers[k]} for k, v in enumerate(p)]}
                        for t, p in preds.items()}}


BASE = record({"A": [0, 0, 0, 0], "B": [1, 1, 1, 1]})  # one letter for every item: 1/4 correct each


def kinds(found, source):
    return {d["kind"] for d in found if d["source"] == source}


def test_a_row_identical_to_the_base_is_flagged_once():
    found = degenerate_cells(BASE, [("A", 0, record({"A": [0, 0, 0, 0], "B": [1, 1, 1, 1]}))])
    assert [d["kind"] for d in found] == ["row_identical_to_base"]
    assert found[0]["targets"] == ["A", "B"] and found[0]["seed"] == 0
    assert "changed no prediction" in found[0]["warning"] and "A (seed 0)" in found[0]["warning"]


def test_a_learned_row_is_not_flagged():
    found = degenerate_cells(BASE, [("A", 0, record({"A": [0, 1, 2, 3], "B": [1, 0, 1, 1]}))])
    assert found == []


def test_unchanged_targets_and_an_unlearned_diagonal_are_told_apart():
    # A's finetune moved its own predictions but not above the base (1/4 -> 1/4), and left B untouched.
    found = degenerate_cells(BASE, [("A", 0, record({"A": [1, 1, 1, 1], "B": [1, 1, 1, 1]})),
                                    ("B", 0, record({"A": [0, 1, 2, 0], "B": [1, 1, 1, 1]}))])
    assert kinds(found, "A") == {"unchanged_targets", "own_task_not_learned"}
    unchanged = next(d for d in found if d["source"] == "A" and d["kind"] == "unchanged_targets")
    assert unchanged["targets"] == ["B"] and "1 of 2 tasks" in unchanged["warning"]
    # B learned A (a transfer) but kept every prediction on its own task
    assert kinds(found, "B") == {"unchanged_targets", "own_task_not_learned"}


def test_measure_prints_the_degenerate_cells_and_puts_them_in_json(monkeypatch, capsys, tmp_path):
    found = degenerate_cells(BASE, [("synthetic:Counting", 0,
                                     record({"A": [0, 0, 0, 0], "B": [1, 1, 1, 1]}))])
    summary = engine.MeasureSummary(str(tmp_path), "h", total=2, reused=0, computed=2,
                                    matrix=str(tmp_path / "matrix.csv"), degenerate=found)
    monkeypatch.setattr(engine, "measure", lambda *a, **k: summary)
    code, out, err = run_cli(["measure", "recipes/measure-tiny.yaml", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "synthetic:Counting (seed 0): the finetuned model gives the base's answer" in err
    assert "1 finetune(s) changed no prediction at all" in err
    code, out, err = run_cli(["measure", "recipes/measure-tiny.yaml", "--out", str(tmp_path),
                              "--format", "json"], capsys)
    assert code == 0
    assert json.loads(out)["degenerate"][0]["kind"] == "row_identical_to_base"
