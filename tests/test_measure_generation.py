"""Open-ended scoring: the judges on known outputs, a scorer fed known generations, and one
measure cell on the tiny model with a number task."""

import json
from types import SimpleNamespace

import pytest
import yaml

from pgfselect.measure.generation import (OpenFields, judge_number, judge_text, mean_relative_accuracy,
                                          normalize_text, parse_generated_number, score_generated)
from pgfselect.tasks.schema import Item


def test_number_judge_exact_tolerance_and_mra():
    assert parse_generated_number(" 7 apples") == 7 and parse_generated_number("about 1,200.") == 1200
    assert parse_generated_number("three, not 4") == 3 and parse_generated_number("none") is None
    assert judge_number("7", "7") == (7.0, 1.0) and judge_number("8", "7")[1] == 0.0
    assert judge_number("7.0", "7")[1] == 1.0  # same value
    assert judge_number("3.6", "3.5", tolerance=0.05)[1] == 1.0  # within 5 % of 3.5
    assert judge_number("3.8", "3.5", tolerance=0.05)[1] == 0.0
    assert judge_number("3.6", "3.5")[1] == 0.0  # no tolerance: exact
    assert judge_number("no idea", "3") == (None, 0.0)
    # VSI-Bench MRA: relative error 0.1 passes thresholds 0.50..0.85 (8 of 10)
    assert mean_relative_accuracy(11, 10) == pytest.approx(0.8)
    assert judge_number("10", "10", metric="mra")[1] == 1.0 and judge_number("30", "10", metric="mra")[1] == 0.0


def test_text_judge_normalises_case_punctuation_articles_and_aliases():
    assert normalize_text("  The Red-ish  CAR. ") == "red ish car"
    assert judge_text("Red.", "red") == ("red", 1.0)
    assert judge_text("a blue\nsecond line", "Blue")[1] == 1.0
    assert judge_text("gray", "grey", ["gray"])[1] == 1.0 and judge_text("green", "grey", ["gray"])[1] == 0.0
    assert judge_text("", "red")[1] == 0.0


def _items(kind, targets, scoring=None):
    return [Item(f"t/{k}", [None], "q?", [], -1, meta={"scoring": scoring or {}}, answer_type=kind, target=t)
            for k, t in enumerate(targets)]


def test_score_generated_counts_known_outputs_per_item():
    items = _items("number", ["3", "12", "2.5"], {"tolerance": 0.1})
    evalset = SimpleNamespace(task_id="custom:x", item_ids=[it.id for it in items], open=OpenFields("custom:x", items))
    res = score_generated(evalset, ["3", "There are 11.", "2.6"])
    assert (res.correct, res.n) == (2, 3)
    assert [p["correct"] for p in res.predictions] == [1.0, 0.0, 1.0]
    assert res.predictions[1] == {"id": "t/1", "answer": "12", "pred": 11.0, "correct": 0.0, "generated": "There are 11."}
    mra = _items("number", ["10", "10"], {"metric": "mra"})
    ev = SimpleNamespace(task_id="m", item_ids=["a", "b"], open=OpenFields("m", mra))
    assert score_generated(ev, ["11", "10"]).correct == pytest.approx(1.8)
    with pytest.raises(Exception, match="mix answer types"):
        OpenFields("z", _items("number", ["1"]) + _items("text", ["a"]))


def test_score_dispatches_open_tasks_to_batched_greedy_generation():
    import torch

    from pgfselect.measure.scoring import score

    class Model:  # "generates" token k+1 for prompt row k; records the generate arguments
        training = False
        calls = []

        def eval(self):
            pass

        def generate(self, input_ids, **kw):
            self.calls.append(kw)
            new = torch.arange(len(input_ids))[:, None] + 1 + len(self.calls) * 10
            return torch.cat([input_ids, new], dim=1)

    class Batch(dict):
        def to(self, device):
            return self

    class Processor:  # only the new tokens are decoded: one per row
        texts = {11: "red", 12: "The Blue!", 21: "Green"}

        def batch_decode(self, ids, skip_special_tokens):
            assert ids.shape[1] == 1 and skip_special_tokens
            return [self.texts[int(t[0])] for t in ids]

    items = _items("text", ["red", "blue", "red"])
    batches = [Batch(input_ids=torch.zeros(2, 3, dtype=torch.long)), Batch(input_ids=torch.zeros(1, 3, dtype=torch.long))]
    evalset = SimpleNamespace(task_id="custom:c", item_ids=[it.id for it in items], open=OpenFields("custom:c", items),
                              batch_slices=lambda: iter([(slice(0, 2), batches[0]), (slice(2, 3), batches[1])]))
    res = score(Model(), evalset, "cpu", processor=Processor())
    assert [p["generated"] for p in res.predictions] == ["red", "The Blue!", "Green"]
    assert (res.correct, res.n) == (2, 3)  # "Green" is not "red"
    assert all(kw == {"max_new_tokens": 16, "do_sample": False} for kw in Model.calls) and len(Model.calls) == 2


@pytest.mark.slow
def test_measure_cell_on_the_tiny_model_with_a_number_task(tmp_path, monkeypatch):
    from pgfselect.cli import main
    from pgfselect.matrix import load
    from pgfselect.tasks.importers import import_task
    from test_tasks_import import llava_counting

    path, imgs = llava_counting(tmp_path, n=40)
    import_task("llava", str(path), str(tmp_path / "counts"), images=str(imgs), split_fractions="0.6,0.4,0")
    # measure names tasks by id (custom:counts): the manifest is registered through the environment
    monkeypatch.setenv("PGFSELECT_CUSTOM_TASKS", str(tmp_path / "counts" / "task.yaml"))
    task = "custom:counts"
    cfg = {"model": {"path": "tiny:t64", "cpu_threads": 1,
                     "warmup": {"steps": 10, "examples_per_task": 16, "batch_size": 8}},
           "tasks": [task, "synthetic:Counting"], "sources": [task], "seeds": [0],
           "training": {"method": "lora", "rank": 4, "alpha": 8, "learning_rate": 0.005, "max_steps": 2,
                        "batch_size": 4, "examples_per_task": 8},
           "evaluation": {"n_items": 16, "batch_size": 16}}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("PGFSELECT_CACHE_DIR", str(tmp_path / "bases"))
    main(["measure", str(tmp_path / "m.yaml"), "--out", str(tmp_path / "run"), "--quiet"])
    m = load(tmp_path / "run")
    assert m.targets == (task, "synthetic:Counting") and m.is_complete
    assert (m.n_eval == 16).all()
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run" / "predictions.csv")))
    number_rows = [r for r in rows if r["target"] == task]
    assert len(number_rows) == 32  # 16 items, base and the one finetuned cell
    assert {r["answer"] for r in number_rows} <= {str(k) for k in range(1, 10)}
    assert all(r["correct"] in ("0.0", "1.0") for r in number_rows)
    # the cell cache keeps each item's generated text beside the parsed prediction
    cells = [json.loads(p.read_text()) for p in (tmp_path / "run" / "cells").rglob("*.json")]
    preds = [p for c in cells if "results" in c for p in c["results"][task]["predictions"]]
    assert len(preds) == 32 and all(isinstance(p["generated"], str) for p in preds)
    # generated answers have no option probabilities: the ensemble proxy says so (the merge proxy can score them)
    from pgfselect.errors import PGFSelectError
    from pgfselect.proxy import ensemble_proxy

    assert all(r["p"] == "" for r in number_rows)
    with pytest.raises(PGFSelectError, match=r"scored by generation.*use the merge proxy \(kind=merge\)"):
        ensemble_proxy(tmp_path / "run", {task: 1}, task)
