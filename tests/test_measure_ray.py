"""The Ray executor on a local Ray instance (1 CPU): same cells, same matrix as in-process; worker
reuse, retries of a crashed worker, failed cells recorded, the task environment forwarded; and the
worker-side checks (config hash, shared adapters_dir) without Ray."""

from __future__ import annotations

import json
import os
import sys

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.measure.executors import LocalExecutor, RayExecutor, make_executor
from pgfselect.errors import PGFSelectError


CFG = {
    "model": {"path": "tiny:t64", "cpu_threads": 1, "warmup": {"steps": 10, "examples_per_task": 16}},
    "tasks": ["synthetic:Counting", "synthetic:Spatial_Relation"],
    "sources": ["synthetic:Counting"],
    "training": {"rank": 4, "alpha": 8, "learning_rate": 0.005, "max_steps": 3, "batch_size": 4,
                 "examples_per_task": 8},
    "evaluation": {"n_items": 8, "batch_size": 8},
}


def test_make_executor_checks_its_arguments():
    assert isinstance(make_executor("local"), LocalExecutor)
    assert isinstance(make_executor("ray", "auto"), RayExecutor)
    with pytest.raises(PGFSelectError, match="address applies only to executor=ray"):
        make_executor("local", "auto")
    with pytest.raises(PGFSelectError, match="unknown executor 'slurm'"):
        make_executor("slurm")


def job_for(doc, cache_dir, **extra):
    from pgfselect.measure.config import validate_config

    cfg = validate_config(doc)
    return {"config": cfg.model_dump(mode="json"), "config_hash": cfg.config_hash(), "source": None, "seed": None,
            "base_path": None, "cache_dir": str(cache_dir), **extra}


def test_a_worker_that_resolves_another_hash_refuses_the_cell(tmp_path):
    from pgfselect.measure.engine import run_cell

    rec = run_cell(job_for(CFG, tmp_path / "cache", config_hash="0123456789abcdef"))
    assert rec["status"] == "failed"
    assert "resolves the config to hash" in rec["error"] and "the driver to 0123456789abcdef" in rec["error"]
    assert "PGFSELECT_BLINK_DIR" in rec["error"]


def test_adapters_dir_must_be_the_drivers_shared_folder(tmp_path):
    from pgfselect.measure.engine import SHARED_MARK, run_cell

    (tmp_path / SHARED_MARK).write_text("driver-token")
    rec = run_cell(job_for(CFG, tmp_path / "cache", adapters_root=str(tmp_path), shared_token="another-run"))
    assert rec["status"] == "failed" and "is not the driver's folder (not shared storage)" in rec["error"]
    rec = run_cell(job_for(CFG, tmp_path / "cache", adapters_root=str(tmp_path / "elsewhere"), shared_token="driver-token"))
    assert rec["status"] == "failed" and "not shared storage" in rec["error"]


def test_task_environment_forwards_pgfselect_variables_as_absolute_paths(tmp_path, monkeypatch):
    from pgfselect.measure.executors import task_environment

    monkeypatch.chdir(tmp_path)
    env = task_environment({"PGFSELECT_BLINK_DIR": "blink", "PGFSELECT_CUSTOM_TASKS": f"a.yaml{os.pathsep}/x/b",
                            "HF_HUB_OFFLINE": "1", "HOME": "/root", "CUDA_VISIBLE_DEVICES": "0"})
    assert env == {"PGFSELECT_BLINK_DIR": str(tmp_path / "blink"), "HF_HUB_OFFLINE": "1",
                   "PGFSELECT_CUSTOM_TASKS": f"{tmp_path / 'a.yaml'}{os.pathsep}/x/b"}


def test_max_retries_is_bounded_and_only_for_ray(tmp_path, capsys):
    with pytest.raises(PGFSelectError, match="max_retries must be at least 0"):
        RayExecutor(max_retries=-1)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(cfg), "--out", str(tmp_path / "o"), "--max-retries", "3"])
    assert exc.value.code == 2 and "--max-retries applies only to --executor ray" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["measure", str(cfg), "--out", str(tmp_path / "o"), "--gpus-per-cell", "2"])
    assert exc.value.code == 2 and "--gpus-per-cell applies only to --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.fixture
def local_ray():  # (tests that use it are slow: Ray starts in about 10 s)
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_executor_matches_in_process(tmp_path, local_ray, monkeypatch, capsys):
    monkeypatch.setenv("PGFSELECT_CACHE_DIR", str(tmp_path / "bases"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    main(["measure", str(cfg), "--out", str(tmp_path / "ray"), "--executor", "ray", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["computed"] == 2 and not doc["failed"]
    assert json.loads((tmp_path / "ray" / "run.json").read_text())["executor"] == "ray"
    # One worker process ran both cells (max_calls=0), the second reusing its processor and
    # preprocessed evaluation sets.
    workers = [json.loads(p.read_text())["worker"] for p in (tmp_path / "ray" / "cells").rglob("*.json")]
    assert len(workers) == 2 and len({w["pid"] for w in workers}) == 1
    assert sorted(w["session_reused"] for w in workers) == [False, True]
    main(["measure", str(cfg), "--out", str(tmp_path / "local"), "--quiet"])
    assert (tmp_path / "ray" / "matrix.csv").read_bytes() == (tmp_path / "local" / "matrix.csv").read_bytes()


# ------------------------------------------------------------------ failures on Ray
def crash_some(fn, marks, job):
    """Kill the worker process: always for Spatial_Relation, on the first attempt for Counting."""
    source = job["source"] or "base"
    if source == "synthetic:Spatial_Relation":
        os._exit(1)
    first = marks / f"{source.replace(':', '_')}.crashed"
    if source == "synthetic:Counting" and not first.exists():
        first.touch()
        os._exit(1)
    return fn(job)


class CrashingRay(RayExecutor):
    def __init__(self, marks, **kwargs):
        super().__init__(**kwargs)
        self.marks = marks

    def run(self, fn, jobs):
        marks = self.marks

        def crashing(job):  # a plain function: ray.remote takes no functools.partial
            return crash_some(fn, marks, job)

        return super().run(crashing, jobs)


@pytest.mark.slow
def test_a_crashed_cell_is_retried_and_a_dead_one_recorded(tmp_path, local_ray, monkeypatch, capsys):
    from ray import cloudpickle

    from pgfselect.matrix import load
    from pgfselect.measure.config import validate_config
    from pgfselect.measure.engine import measure

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    monkeypatch.setenv("PGFSELECT_CACHE_DIR", str(tmp_path / "bases"))
    doc = {**CFG, "sources": None}  # both tasks are sources: base + 2 finetunes
    out = tmp_path / "out"
    # shares_disk=False: the workers send adapters back, as they would from another machine.
    summary = measure(validate_config(doc), out, show_progress=False,
                      executor=CrashingRay(tmp_path, max_retries=1, shares_disk=False))
    assert (tmp_path / "synthetic_Counting.crashed").exists()  # Counting crashed once, then ran
    assert summary.computed == 2 and len(summary.failed) == 1
    failed = summary.failed[0]
    assert failed["cell"] == "synthetic:Spatial_Relation (seed 0)"
    assert "WorkerCrashedError" in failed["error"] and failed["error"].endswith("(after 1 retry)")
    assert "\n" not in failed["error"]
    m = load(out)
    assert m.sources == ("synthetic:Counting",) and m.measured.sum() == 2
    rec = json.loads(next(out.rglob("seed_0/synthetic__Counting.json")).read_text())
    assert rec["adapter_dir"] == f"adapters/{summary.config_hash}/seed_0/synthetic__Counting"
    assert (out / rec["adapter_dir"] / "adapter_config.json").is_file()
    # A rerun reuses the two finished cells and retries only the failed one.
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(doc))
    capsys.readouterr()
    main(["measure", str(cfg), "--out", str(out), "--dry-run", "--format", "json"])
    stdout = capsys.readouterr().out
    # (a late notice of the run's dead workers from Ray's listener thread may land on stdout first)
    rerun = json.loads(stdout[stdout.index("{\n"):])
    assert rerun["reusable"] == 2 and rerun["to_run"] == ["synthetic:Spatial_Relation (seed 0)"]


def probe_environment(job):
    return {"status": "done", "blink": os.environ.get("PGFSELECT_BLINK_DIR"),
            "probe": os.environ.get("PGFSELECT_PROBE")}


@pytest.mark.slow
def test_workers_get_the_drivers_task_environment(tmp_path, local_ray, monkeypatch):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.chdir(tmp_path)
    # Set after Ray started: only runtime_env can bring these to the workers.
    monkeypatch.setenv("PGFSELECT_BLINK_DIR", "blink-copy")
    monkeypatch.setenv("PGFSELECT_PROBE", "driver")
    [(job, result)] = list(RayExecutor().run(probe_environment, [{"source": None, "seed": None}]))
    assert result["blink"] == str(tmp_path / "blink-copy") and result["probe"] == "driver"
