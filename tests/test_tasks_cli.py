"""`pgfselect tasks` from the command line: list, show, preview, export, exit codes."""

import hashlib
import json

import pytest
from PIL import Image

from pgfselect.names import BLINK_TASKS


from clirun import run_cli as run


def test_list_json_has_every_task(capsys):
    code, out, _ = run(["tasks", "list", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    ids = {r["id"] for r in rows}
    assert {f"{s}:{n}" for s in ("blink", "synthetic") for n in BLINK_TASKS} <= ids
    assert all({"id", "source", "n_choices"} <= set(r) and r["source"] in ("blink", "synthetic", "custom")
               for r in rows)
    code, out, _ = run(["tasks", "list", "--source", "synthetic"], capsys)
    assert code == 0 and "synthetic:Jigsaw" in out and "blink:Jigsaw" not in out


def test_show_synthetic_and_blink(capsys):
    code, out, _ = run(["tasks", "show", "synthetic:RR", "--difficulty", "0.5", "--format", "json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["id"] == "synthetic:Relative_Reflectance" and info["n_choices"] == 3
    assert info["options"]["difficulty"] == 0.5 and "brightness" in info["skills"]
    assert info["example_prompt"].startswith("Which point") and info["example_answer"] in "ABC"
    assert info["provenance"]["generator_version"]
    code, out, _ = run(["tasks", "show", "blink:Counting"], capsys)  # no data needed to show
    assert code == 0 and "BLINK-Benchmark/BLINK" in out


def test_preview_writes_a_png(tmp_path, capsys):
    out_png = tmp_path / "p.png"
    code, out, _ = run(["tasks", "preview", "synthetic:SC", "--n", "3", "--out", str(out_png), "--format", "json"],
                       capsys)
    assert code == 0 and json.loads(out)["n"] == 3
    with Image.open(out_png) as img:
        assert img.width > 3 * 112 and img.height > 112


def _tree_digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_export_is_byte_identical_for_the_same_seed(tmp_path, capsys):
    args = ["tasks", "export", "synthetic:Counting", "--split", "train", "--n", "6", "--seed", "4", "--quiet"]
    assert run(args + ["--out", str(tmp_path / "a")], capsys)[0] == 0
    assert run(args + ["--out", str(tmp_path / "b")], capsys)[0] == 0
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    lines = (tmp_path / "a" / "items.jsonl").read_text().splitlines()
    assert len(lines) == 6 and json.loads(lines[0])["images"] == ["images/000000_1.png"]
    run(args[:-2] + ["5", "--quiet", "--out", str(tmp_path / "c")], capsys)
    assert _tree_digest(tmp_path / "a") != _tree_digest(tmp_path / "c")


@pytest.mark.parametrize("args,message", [
    (["tasks", "show", "synthetic:Cuonting"], "did you mean 'Counting'"),
    (["tasks", "show", "counting"], "needs a source prefix"),
    (["tasks", "show", "custom:nothing"], "no custom tasks are registered"),
    (["tasks", "show", "synthetic:CT", "--blink-dir", "x"], "do not apply to synthetic tasks"),
    (["tasks", "preview", "synthetic:CT", "--n", "0", "--out", "x.png"], "--n 0 must be a positive"),
    (["tasks", "preview", "synthetic:CT", "--out", "x.jpg"], "must be a .png file"),
    (["tasks", "export", "synthetic:CT", "--n", "-2", "--out", "d"], "--n -2 must be a positive"),
    (["tasks", "export", "blink:CT", "--blink-dir", "/nonexistent/blink", "--split", "val", "--out", "d"],
     "does not exist"),
])
def test_bad_input_exits_2_with_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(args, capsys)
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing written
