"""Every shipped CPU (tiny-model) config either uses the settings under which the tiny model learns
(docs/notes/tiny-learnability.md: init std 0.1 and a full finetune) or says in its header that it is
a plumbing check, so nobody reads its chance-level numbers as a result."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def header(path: Path) -> str:
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


TINY = [p for p in sorted(RECIPES.glob("*.yaml"))
        if str(yaml.safe_load(p.read_text())["model"]["path"]).startswith("tiny:")]


def test_there_are_tiny_configs():
    assert {"measure-tiny.yaml", "verify-tiny.yaml", "measure-synthetic.yaml"} <= {p.name for p in TINY}


@pytest.mark.parametrize("path", TINY, ids=[p.name for p in TINY])
def test_a_tiny_config_learns_or_says_it_is_a_plumbing_check(path):
    doc = yaml.safe_load(path.read_text())
    learns = (doc["model"].get("initializer_range") or 0) >= 0.1 and doc["training"]["method"] == "full"
    assert learns or "PLUMBING CHECK" in header(path), path.name


def test_measure_tiny_learns():
    doc = yaml.safe_load((RECIPES / "measure-tiny.yaml").read_text())
    assert doc["model"]["initializer_range"] == 0.1 and doc["training"]["method"] == "full"
    assert doc["task_options"]["synthetic"]["skill_cues"] > 0 and "PLUMBING" not in header(RECIPES / "measure-tiny.yaml")
