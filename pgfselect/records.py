"""The run-folder format: what ``pgfselect train`` writes for each run (``run.json`` with
``format: pgfselect-run``) and beside it (``recipe.yaml`` with the recipe hash), read back by the
runner (to reuse finished runs) and by :mod:`pgfselect.compare`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

RUN_FORMAT = "pgfselect-run"
RUN_VERSION = 1


def recipe_hash_of(folder) -> str | None:
    """The recipe hash a ``train --out`` folder records in its recipe.yaml (None: no recipe there)."""
    try:
        doc = yaml.safe_load((Path(folder) / "recipe.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return doc.get("recipe_hash") if isinstance(doc, dict) else None


def is_run_record(doc, recipe_hash: str | None = None) -> bool:
    """``doc`` (a parsed run.json) is a run record, of ``recipe_hash`` when given."""
    return (isinstance(doc, dict) and doc.get("format") == RUN_FORMAT
            and (recipe_hash is None or doc.get("recipe_hash") == recipe_hash))


def finished_runs(folder, strategy: str, recipe_hash: str | None = None) -> list[dict]:
    """The finished runs of one strategy in a ``train --out`` folder (of ``recipe_hash`` when
    given), in run-folder order: per run ``metrics`` (its metrics.json), ``allocation`` (from its
    config.json) and ``items``, item id -> 1 or 0 (correct on the run's target), ordered by id."""
    runs = []
    for path in sorted(Path(folder).glob(f"runs/{strategy}/*/metrics.json")):
        metrics = json.loads(path.read_text())
        if not is_run_record(metrics, recipe_hash):
            continue
        items = {}
        for line in (path.parent / "predictions.jsonl").read_text().splitlines():
            pred = json.loads(line)
            if pred["task"] == metrics["target"]:
                items[pred["id"]] = int(bool(pred["correct"]))
        allocation = json.loads((path.parent / "config.json").read_text())["allocation"]
        runs.append({"metrics": metrics, "allocation": allocation, "items": dict(sorted(items.items()))})
    return runs
