"""Every example command in the `--help` texts, the README's code blocks and the shipped recipes'
comments runs (issue #20): the ones that need no GPU and no training, in a scratch folder holding
stand-ins for the files they name (a partial matrix, measure folders, train output folders).
Commands that train or need what this machine lacks are skipped with the reason in SKIP below;
the analyze examples (figures) are marked slow."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from clirun import run_cli

ROOT = Path(__file__).resolve().parents[1]

# (pattern matched against the command line, reason): the examples this test does not run.
SKIP = [
    (r"^pgfselect measure (?!.*--dry-run)", "trains adapters (measure is covered by the slow engine tests)"),
    (r"^pgfselect train (?!.*--validate)", "trains a recipe (covered by the slow recipe tests)"),
    (r"--blink-dir /data/BLINK", "needs a local BLINK copy"),
    (r"--executor ray|--address auto", "needs a Ray cluster"),
]


def _help_examples() -> list[tuple[str, str]]:
    """(where, command) for each line of every command's and subcommand's Example: section."""
    import click

    from pgfselect.cli import COMMANDS, cli

    out = []

    def visit(cmd, path):
        ctx = click.Context(cmd, info_name=" ".join(path))
        text = cmd.get_help(ctx)
        if "Example" in text:
            out.extend((f"{' '.join(path)} --help", c) for c in _commands(text.split("Example", 1)[1]))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                visit(cmd.get_command(ctx, name), path + [name])

    visit(cli, ["pgfselect"])
    assert set(COMMANDS) <= {c.split()[1] for _, c in out}  # every command's help has examples
    return out


def _commands(text: str) -> list[str]:
    """Lines starting with pgfselect (or .venv/bin/pgfselect), joined over trailing backslashes,
    without trailing comments."""
    lines, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if buf:
            buf += " " + line.rstrip("\\").strip()
            if not line.endswith("\\"):
                lines.append(buf)
                buf = ""
            continue
        line = re.sub(r"^(#\s*)?(.*validate anywhere with:\s*)?", "", line)
        line = re.sub(r"^\.venv/bin/", "", line)
        if not line.startswith("pgfselect "):
            continue
        if line.endswith("\\"):
            buf = line.rstrip("\\").strip()
        else:
            lines.append(line)
    return [re.sub(r"\s+#.*$", "", c).strip() for c in lines]


def _readme_examples() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    return [("README.md", c) for b in blocks for c in _commands(b)]


def _recipe_examples() -> list[tuple[str, str]]:
    out = []
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        comments = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        out += [(f"recipes/{path.name}", c) for c in _commands(comments)]
    return out


EXAMPLES = _help_examples() + _readme_examples() + _recipe_examples()


def _skip_reason(command: str) -> str | None:
    for pattern, reason in SKIP:
        if re.search(pattern, command):
            return reason
    return None


def _write_runs(root: Path, task_extra: str | None = None, seeds=(0, 1), recipe_hash="h1", zero_shot=True) -> None:
    from test_compare import write_run

    runs = [("zero_shot", None, 40)] if zero_shot else []
    runs += [(strategy, seed, correct) for seed in seeds
             for strategy, correct in (("pgf", 60 + seed), ("direct", 50 + seed), ("random", 45 - seed))]
    for strategy, seed, correct in runs:
        folder = write_run(root, strategy, seed, correct, recipe_hash=recipe_hash,
                           expected=None if seed is None else 0.2)
        if task_extra:
            k = seed or 0
            doc = json.loads((folder / "metrics.json").read_text())
            doc["tasks"][task_extra] = {"accuracy": 0.5 + 0.01 * k, "correct": 50 + k, "n": 100}
            (folder / "metrics.json").write_text(json.dumps(doc))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A folder with the files the examples name."""
    from pgfselect.matrix import PGFMatrix, load

    d = tmp_path_factory.mktemp("examples")
    (d / "recipes").symlink_to(ROOT / "recipes")
    m7 = load("published:qwen2.5-vl-7b")
    values = m7.values.copy()
    rng = np.random.default_rng(0)
    hide = rng.random(values.shape[1:]) < 0.3
    for target in ("Counting", "Object_Localization"):  # suggest's examples ask for 3 and 5 new finetunes
        j = m7.targets.index(target)
        hide[[i for i, s in enumerate(m7.sources) if s != target][:7], j] = True
    np.fill_diagonal(hide, False)
    values[:, hide] = np.nan
    partial = PGFMatrix.from_values(values, m7.sources, m7.targets, seeds=m7.seeds, model="qwen2.5-vl-7b")
    partial.to_csv(d / "partial.csv")
    for folder in ("runs/7b", "runs/my-matrix", "runs/tiny", "runs/measure-tiny", "runs/synthetic",
                   "runs/demo-matrix"):
        (d / folder).mkdir(parents=True)
        m7.to_csv(d / folder / "matrix.csv")
    tiny_names = ["synthetic:Counting", "synthetic:Relative_Depth", "synthetic:Spatial_Relation",
                  "synthetic:Object_Localization"]
    demo = PGFMatrix.from_values(rng.uniform(0, 0.5, (2, 4, 4)), tiny_names, tiny_names, model="tiny:t128")
    demo.to_csv(d / "runs/demo-matrix/matrix.csv")
    large = rng.uniform(0.3, 0.8, (2, 4, 4))
    for n, vals in ((500, large * 0.7), (2000, large)):
        (d / f"runs/n{n}").mkdir(parents=True)
        PGFMatrix.from_values(vals, tiny_names, tiny_names, model="tiny:t128",
                              provenance={"examples_per_task": str(n)}).to_csv(d / f"runs/n{n}/matrix.csv")
    ckpt = d / "models" / "Qwen2.5-VL-7B-Instruct"  # a stand-in: --validate loads no weights
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    _write_runs(d / "runs/verify")
    _write_runs(d / "runs/seeds-0-1", seeds=(0, 1))
    _write_runs(d / "runs/seeds-2-3", seeds=(2, 3), zero_shot=False)
    _write_runs(d / "runs/counting-2k", task_extra="synthetic:Jigsaw")
    return d


def _id(example):
    where, command = example
    return f"{where}: {command}"[:120]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e[1].startswith("pgfselect analyze")], ids=_id)
def test_example_runs(example, scratch, capsys, monkeypatch):
    _run_example(example, scratch, capsys, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("example", [e for e in EXAMPLES if e[1].startswith("pgfselect analyze")], ids=_id)
def test_analyze_example_runs(example, scratch, capsys, monkeypatch):
    _run_example(example, scratch, capsys, monkeypatch)


def _run_example(example, scratch, capsys, monkeypatch):
    where, command = example
    reason = _skip_reason(command)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(scratch)
    monkeypatch.delenv("PGFSELECT_BLINK_DIR", raising=False)
    monkeypatch.setenv("PGFSELECT_MODELS", str(scratch / "models"))  # the GPU recipes' checkpoint folder
    code, out, err = run_cli(shlex.split(command)[1:], capsys)
    assert code == 0, f"{where}: `{command}` exited {code}: {err.strip()[-400:]}"


def test_examples_were_found():
    commands = [c for _, c in EXAMPLES]
    assert len(commands) > 30
    assert "pgfselect plan -t RD -b 2k --target-examples 500" in commands
    assert all("--out" in c for c in commands if c.startswith("pgfselect analyze"))  # analyze needs --out
    assert any(c.startswith("pgfselect measure") and "--dry-run" in c for c in commands)


def test_readme_python_api_block_runs():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_target_examples_example_changes_the_plan(capsys):
    """The README's --target-examples example is one where the option matters on the 7B matrix."""
    plans = []
    for extra in ([], ["--target-examples", "500"]):
        code, out, err = run_cli(["plan", "-t", "RD", "-b", "2k", "--format", "json", *extra], capsys)
        assert code == 0, err
        plans.append(json.loads(out))
    assert "Relative_Depth" not in plans[0]["allocation"]
    assert plans[1]["allocation"].get("Relative_Depth") == 500
    assert plans[1]["expected"]["pgf"] > plans[0]["expected"]["pgf"]
