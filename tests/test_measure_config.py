"""Measure configs, the shipped recipes, the cell cache and bad input: fast, no training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pgfselect.cli import main
from pgfselect.errors import PGFSelectError
from pgfselect.measure.cache import Cell, CellCache
from pgfselect.measure.config import MeasureConfig, load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"

BASE = {"model": {"path": "tiny:t64"}, "tasks": ["synthetic:Counting", "synthetic:Relative_Depth"]}


def cfg(**over) -> MeasureConfig:
    doc = json.loads(json.dumps(BASE))
    for key, value in over.items():
        node = doc
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return validate_config(doc)


def error_of(**over) -> str:
    with pytest.raises(PGFSelectError) as exc:
        cfg(**over)
    return str(exc.value)


def test_defaults_and_canonical_task_ids():
    c = cfg(tasks=["synthetic:counting", "synthetic:RD"])
    assert c.tasks == ["synthetic:Counting", "synthetic:Relative_Depth"]
    assert c.source_tasks == c.tasks and c.seeds == [0]
    assert c.model.is_tiny and c.model.effective_warmup().steps > 0
    assert c.training.method == "lora" and c.evaluation.split == "val"


@pytest.mark.parametrize("over, expected", [
    ({"training.rank": 0}, "training.rank: Input should be greater than or equal to 1"),
    ({"training.method": "dora"}, "training.method: Input should be 'lora', 'qlora' or 'full'"),
    ({"training.lr": 0.1}, "training.lr: unknown key"),
    ({"training.max_steps": 5, "training.epochs": 1}, "training: give max_steps or epochs, not both"),
    ({"training.lr_scheduler": "cosine_please"}, "training.lr_scheduler: unknown lr_scheduler 'cosine_please'"),
    ({"evaluation.n_items": -3}, "evaluation.n_items: Input should be greater than or equal to 1"),
    ({"evaluation.split": "dev"}, "evaluation.split: Input should be 'train', 'val' or 'test'"),
    ({"seeds": [0, 0]}, "seeds: seeds must be distinct"),
    ({"tasks": ["synthetic:Counting", "synthetic:Countng"]}, "tasks[1]: unknown synthetic task 'Countng'"),
    ({"tasks": ["synthetic:Counting", "synthetic:CT"]}, "tasks: task listed twice: synthetic:Counting"),
    ({"sources": ["synthetic:Jigsaw"]}, "sources: synthetic:Jigsaw not in tasks"),
    ({"model.path": "tiny:t999"}, "model.path: unknown tiny size 't999'"),
    ({"task_options": {"synthtic": {"difficulty": 0}}}, "task_options: key 'synthtic' is neither a task source"),
    ({"task_options": {"synthetic": {"difficulty": 7}}}, "tasks[0]: difficulty 7 must be a number in [0, 1]"),
    ({"model.path": "/nonexistent/Qwen2.5-VL-7B"}, "model.path: model folder '/nonexistent/Qwen2.5-VL-7B' not found"),
])
def test_errors_name_the_key_path(over, expected):
    assert expected in error_of(**over)


def test_warmup_only_for_tiny(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert "warmup applies only to tiny" in error_of(**{"model.path": str(tmp_path), "model.warmup": {"steps": 3}})
    assert cfg(**{"model.path": str(tmp_path)}).model.effective_warmup() is None


def test_config_hash_covers_results_not_seeds():
    a = cfg()
    assert a.config_hash() == cfg(seeds=[0, 1, 2], name="other", keep_adapters=False).config_hash()
    assert a.config_hash() == cfg(sources=["synthetic:Counting"]).config_hash()
    for over in ({"training.learning_rate": 1e-3}, {"evaluation.n_items": 7}, {"model.path": "tiny:t128"},
                 {"tasks": ["synthetic:Counting", "synthetic:Jigsaw"]}, {"training.train_vision": True},
                 {"model.device_map": "auto"}, {"model.image_size": {"height": 28}}):
        assert cfg(**over).config_hash() != a.config_hash(), over
    # model.image_size unset is left out of the hashed dump: it hashes as before it existed
    from pgfselect.measure.config import drop_legacy_defaults

    doc = a.model_dump(mode="json")
    drop_legacy_defaults(doc)
    assert "image_size" in a.model_dump()["model"] and "image_size" not in doc["model"]
    # How curves are logged and where adapters go change no number.
    assert cfg(**{"training.report_to": "tensorboard"}, adapters_dir="/tmp/x").config_hash() == a.config_hash()


def test_paths_expand_vars_and_home(tmp_path, monkeypatch):
    ckpt = tmp_path / "models" / "Qwen2.5-VL-7B-Instruct"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    monkeypatch.setenv("PGFSELECT_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("HOME", str(tmp_path))
    c = cfg(**{"model.path": "$PGFSELECT_MODELS/Qwen2.5-VL-7B-Instruct"}, adapters_dir="~/adapters")
    assert c.model.path == str(ckpt) and c.adapters_dir == str(tmp_path / "adapters")
    assert cfg(**{"model.path": "~/models/Qwen2.5-VL-7B-Instruct"}).model.path == str(ckpt)
    monkeypatch.delenv("PGFSELECT_MODELS")
    assert error_of(**{"model.path": "$PGFSELECT_MODELS/Qwen2.5-VL-7B-Instruct"}) == (
        "config: model.path: path '$PGFSELECT_MODELS/Qwen2.5-VL-7B-Instruct' uses $PGFSELECT_MODELS, "
        "which is not set in the environment")
    # The paper recipe reads its checkpoint from $PGFSELECT_MODELS, as the README says.
    paper = yaml.safe_load((RECIPES / "measure-qwen2.5-vl-7b-blink.yaml").read_text())
    assert paper["model"]["path"] == "$PGFSELECT_MODELS/Qwen2.5-VL-7B-Instruct"
    assert paper["training"]["train_vision"] is False


def test_train_vision_and_report_to_defaults_and_errors():
    c = cfg()
    assert c.training.train_vision is False and c.training.report_to == "none" and c.model.device_map is None
    assert "training.report_to: Input should be 'none', 'tensorboard' or 'wandb'" in error_of(
        **{"training.report_to": "mlflow"})
    assert "model.device_map: Input should be 'auto'" in error_of(**{"model.device_map": "balanced"})
    assert "image_size {'height': 0} needs one or more size keys with positive pixel values" in error_of(
        **{"model.image_size": {"height": 0}})
    assert cfg(**{"model.image_size": {"height": 28, "width": 28}}).model.image_size == {"height": 28, "width": 28}


@pytest.mark.parametrize("over, package, expected", [
    ({"training.report_to": "wandb"}, "wandb", "training.report_to 'wandb' needs the wandb package"),
    ({"training.report_to": "tensorboard"}, "tensorboard", "training.report_to 'tensorboard' needs tensorboard"),
    ({"training.method": "qlora"}, "bitsandbytes", "'qlora' needs bitsandbytes: pip install 'pgfselect[qlora]'"),
])
def test_a_missing_optional_package_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys,
                                                                           over, package, expected):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    doc = cfg(**over).model_dump(mode="json")
    code, out = run_cli(["measure", write(tmp_path, doc), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and out.err.count("\n") == 1 and expected in out.err, out.err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("name", sorted(p.name for p in RECIPES.glob("measure-*.yaml")))
def test_shipped_recipes_validate(name, tmp_path):
    doc = yaml.safe_load((RECIPES / name).read_text())
    if not doc["model"]["path"].startswith("tiny:"):
        # The real checkpoint is not here: validate everything else against a stand-in folder.
        (tmp_path / "config.json").write_text("{}")
        doc["model"]["path"] = str(tmp_path)
    c = validate_config(doc, where=name)
    assert len(c.tasks) >= 3 and len(c.seeds) >= 1


def test_shipped_recipe_shapes():
    tiny = load_config(RECIPES / "measure-tiny.yaml")
    assert len(tiny.tasks) == 3 and len(tiny.seeds) == 1 and tiny.model.is_tiny
    grid = load_config(RECIPES / "measure-synthetic.yaml")
    assert len(grid.tasks) == 13 and len(grid.seeds) >= 2
    assert all(t.startswith("synthetic:") for t in grid.tasks)
    paper = yaml.safe_load((RECIPES / "measure-qwen2.5-vl-7b-blink.yaml").read_text())
    assert paper["training"]["method"] == "qlora" and len(paper["tasks"]) == 13 and len(paper["seeds"]) == 4


def test_cache_roundtrip_and_foreign_config(tmp_path):
    cache = CellCache(tmp_path, "aaaa")
    cell = Cell("synthetic:Multi-view_Reasoning", 1)
    assert cache.get(cell) is None
    cache.put(cell, {"status": "done", "results": {}})
    assert cache.path(cell).name == "synthetic__Multi-view_Reasoning.json"
    assert cache.get(cell)["config_hash"] == "aaaa"
    cache.check_foreign()  # its own cells are fine
    other = CellCache(tmp_path, "bbbb")
    assert other.get(cell) is None  # never reads another config's cell
    with pytest.raises(PGFSelectError, match="holds cells of another config.*force=True"):
        other.check_foreign()
    other.check_foreign(allow=True)
    # A half-written (corrupt) cell file is recomputed, not trusted.
    cache.path(cell).write_text('{"format": "pgfselect-cell", "conf')
    assert cache.get(cell) is None


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exc:
        main(args)
    return exc.value.code, capsys.readouterr()


def write(tmp_path, doc, name="cfg.yaml") -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return str(p)


@pytest.mark.parametrize("doc, expected", [
    ({**BASE, "tasks": ["synthetic:Nope"]}, "tasks[0]"),
    ({**BASE, "model": {"path": "/no/such/model"}}, "model.path: model folder '/no/such/model' not found"),
    ({**BASE, "trainig": {}}, "trainig: unknown key"),
])
def test_cli_bad_config_exits_2(tmp_path, capsys, doc, expected):
    code, out = run_cli(["measure", write(tmp_path, doc), "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert out.err.startswith("error: ") and expected in out.err and out.err.count("\n") == 1
    assert not (tmp_path / "o").exists()  # nothing written


def test_cli_refuses_foreign_folder_before_any_work(tmp_path, capsys):
    out = tmp_path / "o"
    CellCache(out, "0123456789abcdef").put(Cell(None, None), {"status": "done", "results": {}})
    code, res = run_cli(["measure", write(tmp_path, BASE), "--out", str(out)], capsys)
    assert code == 2 and "holds cells of another config" in res.err
    assert not (out / "config.yaml").exists() and not (out / "matrix.csv").exists()
    assert sorted(p.name for p in (out / "cells").iterdir()) == ["0123456789abcdef"]


def test_cli_dry_run_lists_cells(tmp_path, capsys):
    main(["measure", write(tmp_path, {**BASE, "seeds": [0, 1]}), "--out", str(tmp_path / "o"),
          "--dry-run", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["cells"] == 5 and doc["reusable"] == 0 and doc["to_run"][0] == "zero-shot base"


def test_pending_cells_are_the_engine_s_answer(tmp_path):
    """The dry run's numbers come from the engine: a finished cell in the folder is reusable,
    and the adaptive first round is the config's sources without the target."""
    from pgfselect.measure.adaptive import pending_adaptive
    from pgfselect.measure.engine import pending

    cfg = load_config(write(tmp_path, {**BASE, "seeds": [0, 1], "sources": BASE["tasks"]}))
    out = tmp_path / "o"
    CellCache(out, cfg.config_hash()).put(Cell(None, None), {"status": "done", "results": {}})
    doc = pending(cfg, out)
    assert (doc["cells"], doc["reusable"]) == (5, 1) and "zero-shot base" not in doc["to_run"]
    first = pending_adaptive(cfg, out, "counting", 2)
    assert first["target"] == "synthetic:Counting" and first["at_most_more"] == 4
    assert first["to_run"] == ["synthetic:Relative_Depth (seed 0)", "synthetic:Relative_Depth (seed 1)"]
    assert not (out / "config.yaml").exists()  # read only


def test_cli_missing_config_and_help(tmp_path, capsys):
    code, out = run_cli(["measure", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "not found" in out.err
    main(["measure", "--help"])
    assert "Example:" in capsys.readouterr().out


def test_initializer_range_is_for_tiny_models_only(tmp_path):
    from pgfselect.measure.config import ModelConfig

    assert ModelConfig(path="tiny:t64", initializer_range=0.1).initializer_range == 0.1
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="initializer_range applies only to tiny"):
        ModelConfig(path=str(ckpt), initializer_range=0.1)
    with pytest.raises(ValueError):
        ModelConfig(path="tiny:t64", initializer_range=0)


def test_qlora_without_bitsandbytes_is_refused_before_loading(tmp_path, monkeypatch):
    import sys

    from transformers import AutoModelForImageTextToText

    from pgfselect.measure.config import ModelConfig
    from pgfselect.measure.models import Runtime, load_model

    def never(*a, **k):
        raise AssertionError("the model was loaded before the refusal")

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", never)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as if not installed
    with pytest.raises(PGFSelectError, match=r"'qlora' needs bitsandbytes: pip install 'pgfselect\[qlora\]'"):
        load_model(str(tmp_path), ModelConfig(path="tiny:t64"), Runtime("cpu", "float32"), quantize_4bit=True)


def test_concurrent_base_builds_wait_for_one(tmp_path, monkeypatch):
    """Two processes (here threads) that need the same tiny base at once build it once: the second
    waits on the lock and takes the first one's build; a lock-free version builds twice."""
    import threading
    import time

    from pgfselect.measure import bases

    calls = []

    def fake_build(model_cfg, tasks, out):
        calls.append(out)
        time.sleep(0.5)  # long enough that the second caller arrives mid-build
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"weights")

    monkeypatch.setattr(bases, "_build_warm_tiny", fake_build)
    c = cfg()
    tasks = [c.task(t) for t in c.tasks]
    got = []
    workers = [threading.Thread(target=lambda: got.append(bases.prepare_base(c.model, tasks, tmp_path)))
               for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(calls) == 1 and len(set(got)) == 1
    assert bases.weights_fingerprint(got[0]) == __import__("hashlib").sha256(b"weights").hexdigest()[:16]
    assert not [p for p in (tmp_path / "bases").iterdir() if p.name.startswith(".") and p.is_dir()]  # no temp left
