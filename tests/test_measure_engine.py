"""End to end on the tiny model through the CLI: measure, reuse, kill -9 and resume, failures.

One tiny grid (3 synthetic tasks, 1 seed, a few training steps, 16 evaluation items) is measured
once per module; the built base is shared through $PGFSELECT_CACHE_DIR so later runs skip it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.matrix import load

pytestmark = pytest.mark.slow

TINY = {
    "model": {"path": "tiny:t64", "cpu_threads": 1, "warmup": {"steps": 20, "examples_per_task": 32, "batch_size": 8}},
    "tasks": ["synthetic:Counting", "synthetic:Relative_Depth", "synthetic:Spatial_Relation"],
    "seeds": [0],
    "training": {"method": "lora", "rank": 4, "alpha": 8, "learning_rate": 0.005, "max_steps": 4,
                 "batch_size": 4, "examples_per_task": 16},
    "evaluation": {"n_items": 16, "batch_size": 16, "format_check": 4},
}


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    root = tmp_path_factory.mktemp("measure")
    cache = root / "bases"
    old = os.environ.get("PGFSELECT_CACHE_DIR")
    os.environ["PGFSELECT_CACHE_DIR"] = str(cache)
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    out = root / "run1"
    main(["measure", str(cfg), "--out", str(out), "--quiet"])
    yield {"root": root, "cfg": cfg, "out": out, "cache": cache}
    if old is None:
        os.environ.pop("PGFSELECT_CACHE_DIR", None)
    else:
        os.environ["PGFSELECT_CACHE_DIR"] = old


def test_measure_writes_a_matrix_that_loads(shared):
    out = shared["out"]
    m = load(out)
    assert m.sources == tuple(TINY["tasks"]) and m.targets == tuple(TINY["tasks"]) and m.seeds == ("seed_0",)
    assert m.is_complete and m.model == "tiny:t64"
    assert (m.n_eval == 16).all()
    header = (out / "matrix.csv").read_text().splitlines()[0].split(",")
    for col in ("model", "seed", "source", "target", "n_eval", "correct_base", "correct_ft", "ceiling", "pgf",
                "config_hash", "prompt_version", "dataset_revision", "examples_per_task"):
        assert col in header
    assert m.provenance["examples_per_task"] == "16"  # the training size, for the planner's saturation
    from pgfselect.measure.bases import weights_fingerprint

    built = weights_fingerprint(next(shared["cache"].rglob("model.safetensors")).parent)
    assert built and m.provenance["base_fingerprint"] == built  # the base the cells started from
    preds = (out / "predictions.csv").read_text().splitlines()
    assert len(preds) == 1 + 16 * 3 * (1 + 3)  # base + 3 adapters, each on 3 tasks x 16 items
    run = json.loads((out / "run.json").read_text())
    assert run["computed"] == 4 and run["reused"] == 0 and not run["failed"]
    assert {"torch", "transformers", "trl", "peft", "datasets"} <= set(run["versions"])
    cell = json.loads(next((out / "cells").rglob("seed_0/synthetic__Counting.json")).read_text())
    assert len(cell["train"]["item_ids"]) == 16 and cell["train"]["steps"] == 4
    for res in cell["results"].values():  # greedy generation as a format check on 4 items per task
        assert res["format_ok"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert all(set(p) == {"id", "answer", "pred", "correct", "p"} for p in res["predictions"])
    assert (out / cell["adapter_dir"] / "adapter_config.json").is_file()
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["config_hash"] == run["config_hash"] and resolved["seeds"] == [0]


def test_analysis_commands_read_the_folder(shared, capsys):
    # A few training steps give PGF 0 everywhere, so plan's optimiser would rightly refuse; the
    # uniform baseline still has to read the folder's matrix.
    main(["plan", "--matrix", str(shared["out"]), "--target", "synthetic:Counting", "--budget", "100",
          "--strategy", "uniform", "--format", "json"])
    plan = json.loads(capsys.readouterr().out)
    assert plan["allocation"] == {"synthetic:Relative_Depth": 50, "synthetic:Spatial_Relation": 50}
    assert plan["matrix_digest"] == load(shared["out"]).digest()
    report = shared["root"] / "report"
    main(["analyze", "--matrix", str(shared["out"]), "--out", str(report), "--format", "json", "--quiet"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["tasks"] == TINY["tasks"] and sorted(doc["transferability"]) == sorted(TINY["tasks"])
    assert doc["matrix_digest"] == plan["matrix_digest"]
    assert json.loads((report / "analysis.json").read_text())["tasks"] == TINY["tasks"]


def test_rerun_reuses_every_cell(shared, capsys, monkeypatch):
    from pgfselect.measure.runner import ModelSession

    before = (shared["out"] / "matrix.csv").read_bytes()

    def no_model_work(*args, **kwargs):
        raise AssertionError("a finished cell was trained or scored again")

    for name in ("load_base", "evaluate_base", "finetune_and_evaluate"):
        monkeypatch.setattr(ModelSession, name, no_model_work)
    main(["measure", str(shared["cfg"]), "--out", str(shared["out"]), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["reused"] == 4 and doc["computed"] == 0
    assert (shared["out"] / "matrix.csv").read_bytes() == before


def test_resuming_on_another_base_is_refused(shared, capsys):
    """Cells measured from another base (the same settings on another CPU type) are not mixed
    with this machine's: the folder says so and nothing is computed."""
    import shutil

    other = shared["root"] / "other-base"
    shutil.copytree(shared["out"], other)
    cells = sorted(other.glob("cells/*/seed_0/*.json"))
    for path in cells[:2]:
        doc = json.loads(path.read_text())
        doc["base_fingerprint"] = "0123456789abcdef"
        path.write_text(json.dumps(doc))
    cells[2].unlink()  # one cell left to compute
    before = (other / "matrix.csv").read_bytes()
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(shared["cfg"]), "--out", str(other), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 finished cells" in err[0] and "measured on base 0123456789abcdef" in err[0]
    assert not cells[2].exists() and (other / "matrix.csv").read_bytes() == before


def test_kill_9_then_resume_gives_the_same_matrix(shared):
    cfg = yaml.safe_load(shared["cfg"].read_text())
    cfg["seeds"] = [0, 1]  # more cells, so the kill lands mid-run
    path = shared["root"] / "two-seeds.yaml"
    path.write_text(yaml.safe_dump(cfg))
    ref, killed = shared["root"] / "ref", shared["root"] / "killed"
    # Uninterrupted reference in this process; adding a seed reuses nothing from run1 (new folder).
    main(["measure", str(path), "--out", str(ref), "--quiet"])
    env = {**os.environ, "PGFSELECT_CACHE_DIR": str(shared["cache"])}
    proc = subprocess.Popen([sys.executable, "-m", "pgfselect", "measure", str(path), "--out", str(killed), "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if list(killed.glob("cells/*/seed_0/*.json")):  # base and at least one finetune finished
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_at_kill = len(list(killed.glob("cells/*/**/*.json")))
    assert 2 <= done_at_kill < 7
    assert not (killed / "matrix.csv").exists()
    main(["measure", str(path), "--out", str(killed), "--quiet"])
    run = json.loads((killed / "run.json").read_text())
    assert run["reused"] == done_at_kill and run["computed"] == 7 - done_at_kill
    assert (killed / "matrix.csv").read_bytes() == (ref / "matrix.csv").read_bytes()


def test_non_finite_loss_stops_the_cell_and_keeps_the_others(shared, monkeypatch, capsys):
    from pgfselect.measure.runner import ModelSession

    real = ModelSession.finetune_and_evaluate

    def diverge_on_depth(self, items, training, seed, eval_items, out_dir=None, **kwargs):
        if items[0].id.startswith("synthetic:Relative_Depth"):  # a learning rate that overflows
            training = training.model_copy(update={"learning_rate": 1e30, "method": "full"})
        return real(self, items, training, seed, eval_items, out_dir, **kwargs)

    monkeypatch.setattr(ModelSession, "finetune_and_evaluate", diverge_on_depth)
    out = shared["root"] / "nan"
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(shared["cfg"]), "--out", str(out), "--quiet"])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "cell synthetic:Relative_Depth (seed 0) failed: loss became nan" in err
    assert "lower training.learning_rate" in err
    m = load(out)
    assert m.measured.sum() == 6 and "synthetic:Relative_Depth" not in m.sources  # its row is absent
    assert len(list(out.glob("cells/*/failed/*.json"))) == 1
    # The failed cell is retried on the next run (here it succeeds) and its failure record removed.
    monkeypatch.setattr(ModelSession, "finetune_and_evaluate", real)
    main(["measure", str(shared["cfg"]), "--out", str(out), "--quiet"])
    assert load(out).is_complete and not list(out.glob("cells/*/failed/*.json"))


def test_out_of_memory_suggests_a_smaller_batch(shared, monkeypatch, capsys):
    import torch
    from trl import SFTTrainer

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(SFTTrainer, "train", oom)
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(shared["cfg"]), "--out", str(shared["root"] / "oom")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "out of memory" in err and "lower training.batch_size" in err


def test_adaptive_measures_suggested_sources_only(shared):
    """--adaptive: suggest → measure → refit, within --max-finetunes, reusing the shared cells."""
    out = shared["root"] / "adaptive"
    try:
        main(["measure", str(shared["cfg"]), "--out", str(out), "--adaptive", "--target", "counting",
              "--max-finetunes", "1", "--prior", "published:qwen2.5-vl-3b", "--budget", "100", "--quiet"])
    except SystemExit as exc:
        assert exc.code in (0, None)
    doc = json.loads((out / "adaptive.json").read_text())
    assert doc["target"] == "synthetic:Counting"
    first, last = doc["steps"][0], doc["steps"][-1]
    assert first["measured"] == [] and first["next"]["source"] != "synthetic:Counting"
    assert last["measured"] == [first["next"]["source"]] and "max_finetunes=1" in last["stopped"]
    m = load(out)
    assert m.sources == (first["next"]["source"],)  # only the suggested source was finetuned
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(shared["cfg"]), "--out", str(out), "--adaptive", "--target", "counting",
              "--max-finetunes", "1"])
    assert exc.value.code == 2  # nothing measured and no prior: says what is needed


def test_an_empty_plan_never_stops_adaptive_measurement():
    from pgfselect.measure.adaptive import plan_settled

    a = {"allocation": {"synthetic:Counting": 100}}
    assert plan_settled(a, {"allocation": {"synthetic:Counting": 100}})
    assert not plan_settled(a, {"allocation": {"synthetic:Counting": 60, "synthetic:Jigsaw": 40}})
    assert not plan_settled(a, None)
    assert not plan_settled({"allocation": {}}, {"allocation": {}})  # "nothing helps" may be "not measured yet"
    assert not plan_settled({"error": "no measured cell"}, {"error": "no measured cell"})
