"""Output paths are checked before any work: one `error:` line and exit 2, never a traceback,
never an input written over, and the format follows the extension (issue #20, item 3)."""

import json
import os
from pathlib import Path

import pytest
import yaml

from clirun import run_cli as run
from pgfselect.matrix import load

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"


def one_error_line(code, out, err):
    return code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err + out


@pytest.fixture
def blocked(tmp_path):
    """A folder path that cannot be created: its parent is a regular file (unwritable for root too)."""
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path / "afile" / "sub"


# Every command that writes files, with its output flag pointed under `blocked`.
COMMANDS = {
    "plan": lambda b: ["plan", "-t", "counting", "-b", "2k", "--out", str(b / "plan.yaml")],
    "predict": lambda b: ["predict", "published:qwen2.5-vl-7b", "--out", str(b / "completed.csv")],
    "tasks preview": lambda b: ["tasks", "preview", "synthetic:Counting", "--n", "2", "--out", str(b / "p.png")],
    "tasks export": lambda b: ["tasks", "export", "synthetic:Counting", "--n", "2", "--out", str(b / "ct")],
    "compare --plot": lambda b: ["compare", "runs/none", "--plot", str(b / "c.png")],
    "analyze": lambda b: ["analyze", "--matrix", "published:qwen2.5-vl-7b", "--out", str(b / "report")],
    "measure": lambda b: ["measure", str(RECIPES / "measure-tiny.yaml"), "--out", str(b / "m")],
    "measure --dry-run": lambda b: ["measure", str(RECIPES / "measure-tiny.yaml"), "--dry-run", "--out", str(b / "m")],
    "train": lambda b: ["train", str(RECIPES / "verify-tiny.yaml"), "--out", str(b / "t")],
    "train --validate": lambda b: ["train", str(RECIPES / "verify-tiny.yaml"), "--validate", "--out", str(b / "t")],
    "measure --cache-dir": lambda b: ["measure", str(RECIPES / "measure-tiny.yaml"), "--dry-run", "--out", "m",
                                      "--cache-dir", str(b / "c")],
    "train --cache-dir": lambda b: ["train", str(RECIPES / "verify-tiny.yaml"), "--validate", "--cache-dir",
                                    str(b / "c")],
    "proxy --cache-dir": lambda b: ["proxy", "runs/none", "--mix", "CT=1", "-t", "CT", "--kind", "merge",
                                    "--cache-dir", str(b / "c")],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_refuses_an_unwritable_output_before_work(name, blocked, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(COMMANDS[name](blocked), capsys)
    assert one_error_line(code, out, err), (name, code, err)
    assert "afile" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing created, no temporary left


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
@pytest.mark.parametrize("name", ["plan", "predict", "tasks export"])
def test_read_only_folder(name, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, out, err = run(COMMANDS[name](ro), capsys)
    finally:
        ro.chmod(0o700)
    assert one_error_line(code, out, err), err


def test_plan_under_proc_is_one_line(capsys):
    if not Path("/proc").is_dir():
        pytest.skip("no /proc")
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "--out", "/proc/pgfselect-plan.yaml"], capsys)
    assert one_error_line(code, out, err), err


def test_plan_never_writes_over_its_matrix(tmp_path, capsys):
    m = tmp_path / "M.csv"
    load("published:qwen2.5-vl-7b").to_csv(m)
    before = m.read_bytes()
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "-m", str(m), "--out", str(m)], capsys)
    assert one_error_line(code, out, err) and m.read_bytes() == before
    mj = tmp_path / "M.json"
    load("published:qwen2.5-vl-7b").to_json(mj)
    before = mj.read_bytes()
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "-m", str(mj), "--out", str(mj)], capsys)
    assert one_error_line(code, out, err) and "would write over the input --matrix" in err
    assert mj.read_bytes() == before


def test_predict_and_export_never_write_over_their_inputs(tmp_path, capsys):
    m = tmp_path / "M.csv"
    load("published:qwen2.5-vl-7b").to_csv(m)
    before = m.read_bytes()
    code, out, err = run(["predict", str(m), "--out", str(m)], capsys)
    assert one_error_line(code, out, err) and "would write over the input MATRIX" in err and m.read_bytes() == before
    ex = tmp_path / "ct"
    code, _, err = run(["tasks", "export", "synthetic:Counting", "--n", "2", "--out", str(ex), "--quiet"], capsys)
    assert code == 0, err
    items = (ex / "items.jsonl").read_bytes()
    code, out, err = run(["tasks", "export", f"custom:{ex}/task.yaml", "--n", "1", "--out", str(ex)], capsys)
    assert one_error_line(code, out, err) and "would write over the input" in err
    assert (ex / "items.jsonl").read_bytes() == items


def test_plan_output_format_follows_the_extension(tmp_path, capsys):
    code, _, err = run(["plan", "-t", "counting", "-b", "2k", "--out", str(tmp_path / "p.json")], capsys)
    assert code == 0, err
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["pgfselect_plan"] == 1 and sum(doc["allocation"].values()) == 2000
    code, _, err = run(["plan", "-t", "counting", "-b", "2k", "--out", str(tmp_path / "p.yml")], capsys)
    assert code == 0 and yaml.safe_load((tmp_path / "p.yml").read_text())["budget"] == 2000
    from pgfselect.plan.planfile import read_plan

    assert read_plan(tmp_path / "p.json")["allocation"] == read_plan(tmp_path / "p.yml")["allocation"]
    for args in (["plan", "-t", "counting", "-b", "2k", "--out", str(tmp_path / "p.txt")],
                 ["predict", "published:qwen2.5-vl-7b", "--out", str(tmp_path / "c.txt")],
                 ["compare", "runs/none", "--plot", str(tmp_path / "c.txt")],
                 ["tasks", "preview", "synthetic:Counting", "--out", str(tmp_path / "p.jpg")]):
        code, out, err = run(args, capsys)
        assert one_error_line(code, out, err) and "the format follows the extension" in err, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json", "p.yml"]


def test_output_that_is_a_folder(tmp_path, capsys):
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "--out", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


INPUTS = {
    "plan -m": lambda x: ["plan", "-t", "CT", "-b", "2k", "-m", x],
    "plan --available-file": lambda x: ["plan", "-t", "CT", "-b", "2k", "--available-file", x],
    "predict": lambda x: ["predict", x],
    "suggest": lambda x: ["suggest", x, "-t", "CT", "-n", "2"],
    "matrices show": lambda x: ["matrices", "show", x],
    "analyze": lambda x: ["analyze", "--matrix", x, "--out", "report", "--quiet"],
    "saturation": lambda x: ["saturation", x, x],
    "train --validate": lambda x: ["train", x, "--validate"],
    "measure --dry-run": lambda x: ["measure", x, "--dry-run", "--out", "m"],
    "compare": lambda x: ["compare", x, "--no-plot"],
    "tasks show custom": lambda x: ["tasks", "show", f"custom:{x}"],
    "tasks preview --manifest": lambda x: ["tasks", "preview", "custom:x", "--manifest", x, "--out", "p.png"],
}


@pytest.mark.parametrize("kind", ["missing", "folder", "binary"])
@pytest.mark.parametrize("name", list(INPUTS))
def test_bad_input_paths_give_one_line(name, kind, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    (tmp_path / "binary").write_bytes(bytes(range(256)) * 8)
    code, out, err = run(INPUTS[name](kind), capsys)
    assert one_error_line(code, out, err), (name, kind, err)


def test_measure_and_train_never_write_over_their_config(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    cfg = out / "config.yaml"
    cfg.write_text((RECIPES / "measure-tiny.yaml").read_text())
    code, stdout, err = run(["measure", str(cfg), "--dry-run", "--out", str(out)], capsys)
    assert one_error_line(code, stdout, err) and "would write over the input CONFIG" in err
    recipe = out / "recipe.yaml"
    recipe.write_text((RECIPES / "verify-tiny.yaml").read_text())
    code, stdout, err = run(["train", str(recipe), "--validate", "--out", str(out)], capsys)
    assert one_error_line(code, stdout, err) and "would write over the input RECIPE" in err
    # a config elsewhere in the folder is fine: measure writes only its own files there
    other = out / "my-config.yaml"
    other.write_text(cfg.read_text())
    code, stdout, err = run(["measure", str(other), "--dry-run", "--out", str(out)], capsys)
    assert code == 0, err


@pytest.mark.parametrize("args", [
    ["plan", "-t", "counting", "-b", "2k", "--out", ""],
    ["compare", "runs/none", "--plot", ""],
    ["tasks", "export", "synthetic:Counting", "--n", "1", "--out", ""],
    ["tasks", "export", "synthetic:Counting", "--n", "1", "--out", "."],
    ["tasks", "export", "synthetic:Counting", "--n", "1", "--out", ".."],
])
def test_empty_or_current_folder_outputs(args, tmp_path, capsys, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    (work / "keep.txt").write_text("mine\n")
    monkeypatch.chdir(work)
    code, out, err = run(args, capsys)
    assert one_error_line(code, out, err), err
    assert sorted(p.name for p in work.iterdir()) == ["keep.txt"]
