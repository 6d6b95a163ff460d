"""The package's import structure: the GPU-free core never imports torch, and no pgfselect module
imports one that imports it back (function-local imports count)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "pgfselect"
HEAVY = ("torch", "transformers", "trl", "peft", "datasets", "accelerate")

# Every pgfselect module imports without the training stack: torch and the rest are imported
# inside the functions that train or score, so the GPU-free core (matrix, stats, analysis,
# predict, plan, report, compare) and the CLI start-up never load them.


def _heavy_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_every_module_imports_without_the_training_stack():
    modules = sorted(m for m in _modules() if m != "pgfselect.__main__")
    assert len(modules) > 50 and "pgfselect.plan.planner" in modules and "pgfselect.measure.engine" in modules
    code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    assert _heavy_after(code) == []


def test_synthetic_tasks_generate_without_the_training_stack():
    code = ("from pgfselect.tasks import get_task, list_tasks\nlist_tasks()\n"
            "[get_task('synthetic:' + n).items('val', n=2) for n in ('CT', 'VC', 'FD')]")
    assert _heavy_after(code) == []


def test_plan_command_loads_only_what_planning_needs():
    code = ("import sys, runpy\nsys.argv = ['pgfselect', 'plan', '-t', 'CT', '-b', '2k', '--format', 'json']\n"
            "try:\n    runpy.run_module('pgfselect', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'matplotlib', 'networkx', 'PIL', 'pydantic', "
            "'pgfselect.measure', 'pgfselect.recipes') "
            "if m in sys.modules), file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert json.loads(r.stdout)["budget"] == 2000
    assert "HEAVY []" in r.stderr


# ------------------------------------------------------------------ the import graph
def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def import_graph() -> nx.DiGraph:
    """Module -> pgfselect modules it imports anywhere in its text (top level, functions,
    TYPE_CHECKING blocks excluded: annotations only)."""
    modules = _modules()

    def owner(name: str) -> str | None:  # the longest prefix that is a module
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = nx.DiGraph()
    for mod, (path, is_package) in modules.items():
        graph.add_node(mod)
        tree = ast.parse(path.read_text(), str(path))
        annotation_only = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                annotation_only |= {id(sub) for stmt in node.body for sub in ast.walk(stmt)}
        here = mod if is_package else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if id(node) in annotation_only:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                src = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
                subs = [f"{src}.{a.name}" for a in node.names if f"{src}.{a.name}" in modules]
                names = subs if len(subs) == len(node.names) else [src, *subs]
            else:
                continue
            for name in names:
                target = owner(name) if name.split(".")[0] == "pgfselect" else None
                if target and target != mod:
                    graph.add_edge(mod, target)
    return graph


def test_no_import_cycle_among_pgfselect_modules():
    graph = import_graph()
    assert graph.number_of_nodes() > 50 and graph.has_edge("pgfselect.tasks.registry", "pgfselect.tasks.base")
    cycles = [" -> ".join(c) for c in nx.simple_cycles(graph)]
    assert cycles == []


def test_the_graph_sees_function_local_imports(tmp_path, monkeypatch):
    # A cycle hidden in a function body is still a cycle.
    pkg = tmp_path / "pgfselect"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import g\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    graph = import_graph()
    assert list(nx.simple_cycles(graph)) and not graph.has_edge("pgfselect.c", "pgfselect.a")


def test_no_module_is_longer_than_a_reader_holds():
    lengths = {str(p.relative_to(PACKAGE.parent)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(lengths) > 50
    assert {name: n for name, n in lengths.items() if n > 450} == {}
