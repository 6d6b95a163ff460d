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
    (r"^pgfselect proxy |--mixture-model proxy:", "needs a measured folder (predictions, adapters, a tiny base): tests/test_proxy.py "
                           "measures one and runs the command on it"),
    (r"^pgfselect tasks build (?!--list)", "needs a downloaded source dataset (tests/test_tasks_build*.py build from "
                                           "fixtures in each official format)"),
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
    for folder in ("runs/7b", "runs/my-matrix", "runs/tiny", "runs/measure-tiny", "runs/synthetic"):
        (d / folder).mkdir(parents=True)
        m7.to_csv(d / folder / "matrix.csv")
    tiny_names = ["synthetic:Counting", "synthetic:Relative_Depth", "synthetic:Spatial_Relation",
                  "synthetic:Object_Localization"]
    (d / "runs/matrix").mkdir(parents=True)
    m7.to_csv(d / "runs/matrix/matrix.csv")
    _write_mixes(d, m7.sources)
    _write_import_sources(d)
    large = rng.uniform(0.3, 0.8, (2, 4, 4))
    for n, vals in ((500, large * 0.7), (2000, large)):
        (d / f"runs/n{n}").mkdir(parents=True)
        PGFMatrix.from_values(vals, tiny_names, tiny_names, model="tiny:t128",
                              provenance={"examples_per_task": str(n)}).to_csv(d / f"runs/n{n}/matrix.csv")
    ckpt = d / "models" / "Qwen2.5-VL-7B-Instruct"  # a stand-in: --validate loads no weights
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    _write_runs(d / "runs/verify")
    _write_runs(d / "runs/demo")
    _write_runs(d / "runs/seeds-0-1", seeds=(0, 1))
    _write_runs(d / "runs/seeds-2-3", seeds=(2, 3), zero_shot=False)
    _write_runs(d / "runs/counting-2k", task_extra="synthetic:Jigsaw")
    return d


def _write_import_sources(root: Path) -> None:
    """The files `tasks import`'s examples read: LLaVA JSON + images, a messages JSONL, a datasets folder."""
    import shutil

    import datasets
    from PIL import Image
    from test_tasks_import import llava_counting, messages_colours

    path, _ = llava_counting(root)
    shutil.copy(path, root / "my_counts.json")
    src = messages_colours(root)
    lines = [json.loads(line) for line in src.read_text().splitlines()]
    for rec in lines:
        rec["images"] = [f"colours/{p}" for p in rec["images"]]
    (root / "colours.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    imgs = [Image.new("RGB", (8, 8), (20 * i, 0, 0)) for i in range(10)]
    ds = datasets.Dataset.from_dict({"q": ["How red is it?"] * 10, "a": [str(i) for i in range(10)], "img": imgs})
    ds.cast_column("img", datasets.Image()).save_to_disk(str(root / "data" / "vqa"))


def _write_mixes(root: Path, names) -> None:
    """Three `train` folders for Counting whose mixtures differ (fit-mixtures' example), and the
    model fitted from them (plan --mixture-model's example)."""
    from test_compare import write_run

    from pgfselect.plan.mixture_model import MixtureResponse, runs_to_training_data

    ids = {n: f"blink:{n}" for n in names}
    for k, (a, correct) in enumerate(((1.0, 62), (0.5, 66), (0.0, 58))):
        folder = root / "runs" / f"mix-{'abc'[k]}"
        (folder / "recipe.yaml").parent.mkdir(parents=True, exist_ok=True)
        (folder / "recipe.yaml").write_text(json.dumps({"recipe_hash": f"m{k}", "resolved": {"task_ids": ids}}))
        write_run(folder, "zero_shot", None, 40, recipe_hash=f"m{k}", target="blink:Counting")
        run = write_run(folder, "pgf", 0, correct, recipe_hash=f"m{k}", target="blink:Counting")
        alloc = {ids["Spatial_Relation"]: int(2000 * a), ids["Object_Localization"]: int(2000 * (1 - a))}
        (run / "config.json").write_text(json.dumps({"allocation": {t: n for t, n in alloc.items() if n},
                                                     "target_name": "Counting"}))
    shares, pgf, sources, target = runs_to_training_data([root / "runs" / f"mix-{c}" for c in "abc"])
    doc = MixtureResponse().fit(shares, pgf, sources, target).to_dict()
    (root / "counting-mix.json").write_text(json.dumps(doc))


def _id(example):
    where, command = example
    return f"{where}: {command}"[:120]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e[1].startswith("pgfselect analyze")], ids=_id)
def test_example_runs(example, scratch, capsys, monkeypatch):
    code, err = _run_example(example, scratch, capsys, monkeypatch)
    assert code == 0, f"{example[0]}: `{example[1]}` exited {code}: {err.strip()[-400:]}"


@pytest.mark.slow
@pytest.mark.parametrize("example", [e for e in EXAMPLES if e[1].startswith("pgfselect analyze")], ids=_id)
def test_analyze_example_runs(example, scratch, capsys, monkeypatch):
    code, err = _run_example(example, scratch, capsys, monkeypatch)
    assert code == 0, f"{example[0]}: `{example[1]}` exited {code}: {err.strip()[-400:]}"


def _run_example(example, scratch, capsys, monkeypatch) -> tuple[int, str]:
    """(exit code, stderr) of one example, run in the scratch folder (skipped per SKIP)."""
    _, command = example
    reason = _skip_reason(command)
    if reason:
        pytest.skip(reason)
    monkeypatch.chdir(scratch)
    monkeypatch.delenv("PGFSELECT_BLINK_DIR", raising=False)
    monkeypatch.setenv("PGFSELECT_MODELS", str(scratch / "models"))  # the GPU recipes' checkpoint folder
    code, _, err = run_cli(shlex.split(command)[1:], capsys)
    return code, err


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
