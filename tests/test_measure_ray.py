"""The Ray executor on a local Ray instance (1 CPU): same cells, same matrix as in-process."""

from __future__ import annotations

import json

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.measure.executors import LocalExecutor, RayExecutor, make_executor
from pgfselect.errors import PGFSelectError

pytestmark = pytest.mark.slow

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
    with pytest.raises(PGFSelectError, match="--address applies only to --executor ray"):
        make_executor("local", "auto")
    with pytest.raises(PGFSelectError, match="unknown executor 'slurm'"):
        make_executor("slurm")


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_executor_matches_in_process(tmp_path, local_ray, monkeypatch, capsys):
    monkeypatch.setenv("PGFSELECT_CACHE_DIR", str(tmp_path / "bases"))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(CFG))
    main(["measure", str(cfg), "--out", str(tmp_path / "ray"), "--executor", "ray", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["computed"] == 2 and not doc["failed"]
    assert json.loads((tmp_path / "ray" / "run.json").read_text())["executor"] == "ray"
    main(["measure", str(cfg), "--out", str(tmp_path / "local"), "--quiet"])
    assert (tmp_path / "ray" / "matrix.csv").read_bytes() == (tmp_path / "local" / "matrix.csv").read_bytes()
