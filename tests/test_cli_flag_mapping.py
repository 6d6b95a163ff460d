"""Library errors name the Python parameter of what was called; the CLI maps them to its flags
(issue 19, item 6): the same bad input reads ``answer_type ...`` from the library and
``--answer-type ...`` from ``pgfselect tasks import``."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import click
import pytest
from PIL import Image

from clirun import run_cli
from pgfselect.cli import as_flags, cli, COMMANDS
from pgfselect.errors import PGFSelectError
from pgfselect.matrix import load
from pgfselect.plan import MixturePlanner
from pgfselect.recipes.resolve import resolve
from pgfselect.recipes.runner import RecipeRunner, select_runs, write_resolved
from pgfselect.recipes.schema import load_recipe
from pgfselect.tasks.importers import import_task

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "pgfselect"
RECIPE = ROOT / "recipes" / "verify-tiny.yaml"
FLAG = re.compile(r"(?<![\w-])--[a-z{]")


def colours_json(tmp_path) -> Path:
    """A LLaVA file of four items with text answers (red, blue, ...)."""
    recs = []
    for i, name in enumerate(["red", "blue", "red", "blue"]):
        Image.new("RGB", (16, 16), name).save(tmp_path / f"{i}.png")
        recs.append({"id": f"c{i}", "image": f"{i}.png", "conversations": [
            {"from": "human", "value": "<image>\nWhich colour?"}, {"from": "gpt", "value": name}]})
    path = tmp_path / "colours.json"
    path.write_text(json.dumps(recs))
    return path


def one_error_line(code, err) -> str:
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, (code, err)
    return err


def library_error(call) -> str:
    with pytest.raises(PGFSelectError) as exc:
        call()
    message = str(exc.value)
    assert not FLAG.search(message), message
    return message


# ------------------------------------------------------------------ the same input, both ways
def test_tasks_importer_names_answer_type(tmp_path, capsys):
    path = colours_json(tmp_path)
    message = library_error(lambda: import_task("llava", str(path), str(tmp_path / "t"), answer_type="number"))
    assert "is not a number (answer_type=number)" in message
    message = library_error(lambda: import_task("llava", str(path), str(tmp_path / "t"), split_fractions="1,1"))
    assert message.startswith("split_fractions '1,1' must be") and "split_fractions" in inspect.signature(import_task).parameters
    code, _, err = run_cli(["tasks", "import", "llava", str(path), "--out", str(tmp_path / "t"),
                            "--answer-type", "number"], capsys)
    assert "is not a number (--answer-type number)" in one_error_line(code, err)
    code, _, err = run_cli(["tasks", "import", "llava", str(path), "--out", str(tmp_path / "t"),
                            "--split-fractions", "1,1"], capsys)
    assert one_error_line(code, err).startswith("error: --split-fractions '1,1' must be")
    assert not (tmp_path / "t").exists()


def test_recipe_runner_names_out_dir_and_force(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    loaded = load_recipe(RECIPE)
    message = library_error(lambda: RecipeRunner(loaded, afile).validate())
    assert message == f"out_dir {str(afile)!r} is a file; give a folder"
    assert "out_dir" in inspect.signature(RecipeRunner).parameters
    # a folder of another recipe: the hint is force=True (the CLI: --force)
    other = tmp_path / "R"
    write_resolved(loaded, resolve(loaded, check_data=False), other)
    (other / "recipe.yaml").write_text((other / "recipe.yaml").read_text().replace("recipe_hash: ", "recipe_hash: x", 1))
    message = library_error(lambda: RecipeRunner(loaded, other).validate())
    assert message.startswith(f"out_dir {str(other)!r} holds runs of a different recipe") and "or force=True to" in message
    RecipeRunner(loaded, other, force=True).validate()
    code, _, err = run_cli(["train", str(RECIPE), "--validate", "--out", str(other)], capsys)
    err = one_error_line(code, err)
    assert err.startswith(f"error: --out {str(other)!r} holds runs") and "or --force to recompute" in err


def test_select_runs_names_only(capsys):
    runs = resolve(load_recipe(RECIPE), check_data=False).runs
    message = library_error(lambda: select_runs(runs, only=["nosuch"]))
    assert message.startswith("only: unknown strategy 'nosuch'")
    message = library_error(lambda: select_runs(runs, only=["paper"]))
    assert message.startswith("only paper: not a strategy of this recipe")
    code, _, err = run_cli(["train", str(RECIPE), "--validate", "--only", "paper"], capsys)
    assert one_error_line(code, err).startswith("error: --only paper: not a strategy of this recipe")


def test_planner_names_fix_and_completion(tmp_path, capsys, reference_dir):
    m7 = load("published:qwen2.5-vl-7b")
    message = library_error(lambda: MixturePlanner("counting", "2k", fix={"Counting": 100}).fit(m7))
    assert message.startswith("fix source 'Counting' is not a candidate source")
    code, _, err = run_cli(["plan", "-t", "counting", "-b", "2k", "--fix", "Counting=100"], capsys)
    assert one_error_line(code, err).startswith("error: --fix source 'Counting' is not a candidate source")
    # a matrix without Jigsaw's row: the hint completion=COMPLETER is plan's --complete (ALIASES),
    # an option that takes no value
    lines = (reference_dir / "pgf_qwen2.5-vl-7B-instruct.csv").read_text().splitlines()
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join([lines[0]] + [ln for ln in lines[1:] if ln.split(",")[1] != "Jigsaw"]) + "\n")
    message = library_error(lambda: MixturePlanner("counting", "2k").fit(load(partial)))
    assert message.endswith("measure them or predict them (completion=COMPLETER)")
    assert "completion" in inspect.signature(MixturePlanner.fit).parameters
    code, _, err = run_cli(["plan", "-t", "counting", "-b", "2k", "-m", str(partial)], capsys)
    assert one_error_line(code, err).endswith("measure them or predict them (--complete)\n")


def test_build_task_names_its_inputs(tmp_path, capsys):
    from pgfselect.tasks.build import build_task

    message = library_error(lambda: build_task("blink:Jigsaw", "images", tmp_path / "o", 3, 0, images=tmp_path / "no"))
    assert message.startswith(f"images {str(tmp_path / 'no')!r} does not exist; it must be images=a folder")
    code, _, err = run_cli(["tasks", "build", "blink:Jigsaw", "--from", "images", "--images", str(tmp_path / "no"),
                            "--n", "3", "--out", str(tmp_path / "o")], capsys)
    assert one_error_line(code, err).startswith(f"error: --images {str(tmp_path / 'no')!r} does not exist; "
                                               "it must be --images a folder")


# ------------------------------------------------------------------ the mapper itself
def _command(name: str) -> click.Command:
    ctx = click.Context(cli)
    first, _, sub = name.partition(" ")
    command = cli.get_command(ctx, first)
    return command.commands[sub] if sub else command


@pytest.mark.parametrize("command, message, expected", [
    ("train", "out_dir '/a' is a file; give a folder", "--out '/a' is a file; give a folder"),
    ("train", "only: unknown strategy 'x'", "--only: unknown strategy 'x'"),
    ("train", "use a new folder, or force=True to recompute", "use a new folder, or --force to recompute"),
    ("tasks import", "'x' is not a folder; a hub dataset id needs revision=COMMIT",
     "'x' is not a folder; a hub dataset id needs --revision COMMIT"),
    ("tasks import", "x: answer 'a' is not a number (answer_type=number)", "x: answer 'a' is not a number (--answer-type number)"),
    ("tasks import", "pass split_turns=True to import each turn", "pass --split-turns to import each turn"),
    ("tasks build", "task 'x': builders make BLINK-style tasks", "TASK 'x': builders make BLINK-style tasks"),
    ("tasks build", "source_format 'x' is not a source format", "--from 'x' is not a source format"),
    ("tasks show", "cannot load: pass local_path=DIR or set X", "cannot load: pass --blink-dir DIR or set X"),
    ("plan", "measure them or predict them (completion=COMPLETER)", "measure them or predict them (--complete)"),
    ("suggest", "n_finetunes 9 is more than the 3 sources", "--finetunes 9 is more than the 3 sources"),
    ("mix", "plan source 'A' maps to no task; give task_prefix=PREFIX or tasks=A=SOURCE:NAME",
     "plan source 'A' maps to no task; give --task-prefix PREFIX or --tasks A=SOURCE:NAME"),
    # not rewritten: a name inside a word or a quoted value, a name that is no parameter, a flag already
    ("train", "the out_dir 'only: x'", "the out_dir 'only: x'"),
    ("tasks import", "columns entry 'name=x' must be KEY=COLUMN", "--columns entry 'name=x' must be KEY=COLUMN"),
    ("plan", "matrix 'm' has no rows", "matrix 'm' has no rows"),
    ("plan", "--k 5 is more than the 3 candidate sources", "--k 5 is more than the 3 candidate sources"),
])
def test_as_flags(command, message, expected):
    assert as_flags(message, _command(command)) == expected


def test_every_command_and_subcommand_is_mapped():
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        for c in [command, *getattr(command, "commands", {}).values()]:
            assert getattr(c, "_flag_errors", False), name
    assert cli.get_command(ctx, "train") is cli.get_command(ctx, "train")  # wrapped once, not per call


# ------------------------------------------------------------------ no flag in a library error
def _raised_texts(tree: ast.AST):
    """The literal text of every raise statement's exception, and of every ``check_writable``
    name (it leads that helper's messages), with ``{}`` for interpolated values."""
    def text(node):
        parts = []
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                parts.append(sub.value)
            elif isinstance(sub, ast.FormattedValue):
                parts.append("{}")
        return "".join(parts)

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            yield node.lineno, text(node.exc)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check_writable":
            yield node.lineno, text(ast.Tuple(elts=node.args[1:] + [k.value for k in node.keywords], ctx=ast.Load()))


def test_no_library_error_names_a_cli_flag():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ("cli", "data"):
            continue
        for line, text in _raised_texts(ast.parse(path.read_text())):
            if FLAG.search(text):
                found.append(f"{rel}:{line}: {text}")
    assert not found, "library errors name CLI flags (name the parameter; the CLI maps it):\n" + "\n".join(found)


def test_the_scan_sees_flags():
    tree = ast.parse('def f(x):\n    raise PGFSelectError(f"--out {x!r} is a file")\n'
                     'def g(n):\n    raise E("see --{n}")\ncheck_writable(p, "--out")\n')
    assert [FLAG.search(t) is not None for _, t in _raised_texts(tree)] == [True, True, True]
