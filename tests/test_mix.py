"""``pgfselect mix``: a plan's items as LLaVA JSON / messages / hf datasets, drawn as train draws."""

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from clirun import run_cli

ALLOC = {"Spatial_Relation": 7, "Object_Localization": 5, "Jigsaw": 0}


def write_plan(tmp_path, allocation=ALLOC, **over):
    doc = {"pgfselect_plan": 1, "target": "Counting", "targets": {"Counting": 1.0},
           "budget": sum(allocation.values()), "matrix": "published:qwen2.5-vl-7b", "strategy": "pgf",
           "allocation": dict(allocation), "status": "optimal", **over}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def source_counts(records):
    # ids look like synthetic:Spatial_Relation/train/s123/000004
    return Counter(r["id"].split("/")[0].split(":")[1] for r in records)


def test_llava_mix_has_the_planned_counts_images_and_unique_ids(tmp_path, capsys):
    plan = write_plan(tmp_path)
    code, out, err = run_cli(["mix", str(plan), "--task-prefix", "synthetic:", "--format", "llava",
                              "--out", str(tmp_path / "M"), "--json"], capsys)
    assert code == 0, err
    summary = json.loads(out)
    records = json.loads((tmp_path / "M" / "data.json").read_text())
    assert source_counts(records) == {"Spatial_Relation": 7, "Object_Localization": 5}
    assert len({r["id"] for r in records}) == len(records) == 12
    for r in records:
        assert r["conversations"][0]["value"].count("<image>") == len(r["images"])
        assert all((tmp_path / "M" / p).is_file() for p in r["images"])
        assert r["conversations"][1]["value"] in "ABCD"
    info = json.loads((tmp_path / "M" / "dataset_info.json").read_text())
    assert info["pgfselect_mix"]["file_name"] == "data.json"
    mixdoc = json.loads((tmp_path / "M" / "mix.json").read_text())
    assert mixdoc == {k: v for k, v in summary.items() if k != "out"}
    assert {d["source"]: d["n"] for d in mixdoc["sources"]} == {"Spatial_Relation": 7, "Object_Localization": 5}


def test_mix_draws_the_same_items_as_train_and_is_deterministic(tmp_path):
    from pgfselect.mixdata import mix
    from pgfselect.recipes import recipe_from_dict
    from pgfselect.recipes.resolve import resolve
    from pgfselect.recipes.runner import sample_items

    plan = write_plan(tmp_path)
    ids = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        mix(plan, tmp_path / name, "llava", seed=seed, task_prefix="synthetic:")
        ids[name] = [r["id"] for r in json.loads((tmp_path / name / "data.json").read_text())]
    assert (tmp_path / "a" / "data.json").read_bytes() == (tmp_path / "b" / "data.json").read_bytes()
    assert (tmp_path / "a" / "images" / "000003_1.png").read_bytes() == (tmp_path / "b" / "images" / "000003_1.png").read_bytes()
    assert ids["a"] != ids["c"]  # another recipe seed draws other items
    doc = {"pgfselect_recipe": 1, "name": "mix-check", "model": {"path": "tiny:t64"}, "target": "Counting",
           "budget": 12, "task_prefix": "synthetic:", "mixture": {"plan": str(plan)}, "baselines": [],
           "seeds": [1, 2], "training": {"max_steps": 1}}
    res = resolve(recipe_from_dict(doc, base_dir=tmp_path), check_data=False)
    run = next(r for r in res.runs if r.seed == 1)
    assert [it.id for _, it in sample_items(recipe_from_dict(doc, base_dir=tmp_path), run)] == ids["a"]


def test_messages_and_hf_formats_load_with_datasets(tmp_path):
    import datasets

    from pgfselect.mixdata import mix

    plan = write_plan(tmp_path, {"Spatial_Relation": 2, "Jigsaw": 2})
    mix(plan, tmp_path / "msg", "messages", task_prefix="synthetic:")
    ds = datasets.load_from_disk(str(tmp_path / "msg" / "dataset"))
    assert set(ds.column_names) == {"id", "task", "messages", "images"} and len(ds) == 4
    row = ds[3]
    assert row["task"] == "synthetic:Jigsaw" and len(row["images"]) == 3  # Jigsaw: 3 images
    user, assistant = row["messages"]
    assert [c["type"] for c in user["content"]] == ["image"] * 3 + ["text"]
    assert assistant["role"] == "assistant" and assistant["content"][0]["text"] in ("A", "B")
    assert (tmp_path / "msg" / "dataset_info.json").is_file() and (tmp_path / "msg" / "data.json").is_file()
    mix(plan, tmp_path / "hf", "hf", task_prefix="synthetic:")
    hf = datasets.load_from_disk(str(tmp_path / "hf" / "dataset"))
    assert hf["id"] == ds["id"] and hf[0]["answer_text"] == "AB"[hf[0]["answer"]]


def test_mix_errors_exit_2_and_write_nothing(tmp_path, capsys):
    from pgfselect.tasks.export import export_items
    from pgfselect.tasks.registry import get_task

    plan = write_plan(tmp_path)
    out = tmp_path / "M"
    code, _, err = run_cli(["mix", str(plan), "--out", str(out)], capsys)
    assert code == 2 and "plan source 'Spatial_Relation' maps to no task" in err and "--task-prefix" in err
    code, _, err = run_cli(["mix", str(plan), "--task-prefix", "nope:", "--out", str(out)], capsys)
    assert code == 2 and "unknown task source 'nope'" in err
    export_items(get_task("synthetic:Spatial_Relation"), "train", 3, 0, tmp_path / "small")
    code, _, err = run_cli(["mix", str(plan), "--task-prefix", "synthetic:", "--tasks",
                            f"Spatial_Relation=custom:{tmp_path / 'small' / 'task.yaml'}", "--out", str(out)], capsys)
    assert code == 2 and "has 3 train items; the plan allocates 7" in err
    code, _, err = run_cli(["mix", str(plan), "--task-prefix", "synthetic:", "--tasks", "Spatial_Relation",
                            "--out", str(out)], capsys)
    assert code == 2 and "must be NAME=SOURCE:NAME" in err
    empty = write_plan(tmp_path, {}, status="no_helpful_source",
                       recommendation={"strategy": "direct", "reason": "no source helps"})
    code, _, err = run_cli(["mix", str(empty), "--task-prefix", "synthetic:", "--out", str(out)], capsys)
    assert code == 2 and "allocates nothing" in err and "direct" in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".M.")]  # no temporary folder left
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = run_cli(["mix", str(write_plan(tmp_path)), "--task-prefix", "synthetic:", "--out", str(out)], capsys)
    assert code == 2 and "not an empty folder" in err and sorted(p.name for p in out.iterdir()) == ["keep.txt"]
