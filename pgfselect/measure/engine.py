"""The measurement grid: zero-shot base, one finetune per (source, seed), every model scored on
every task; cells cached as they finish; the PGF matrix assembled from the cached counts.

Outputs in ``DIR``: ``config.yaml`` (resolved), ``matrix.csv`` (tidy, read by ``analyze`` and
``plan --matrix DIR``), ``predictions.csv`` (per item), ``run.json`` (cells, failures, package
versions), ``cells/`` (the cache) and ``adapters/`` (with ``keep_adapters``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PGFSelectError
from ..progress import Progress
from ..fileio import atomic_write, check_writable, package_versions
from .cache import Cell, CellCache
from .config import MeasureConfig
from .degenerate import degenerate_from_cache
from .runner import HEAVY_PACKAGES

PREDICTION_COLUMNS = ("seed", "source", "target", "item_id", "answer", "pred", "correct")


@dataclass
class MeasureSummary:
    out_dir: str
    config_hash: str
    total: int
    reused: int
    computed: int
    failed: list = field(default_factory=list)  # [{"cell": str, "error": str}]
    seconds: float = 0.0
    matrix: str | None = None
    degenerate: list = field(default_factory=list)  # measure.degenerate.degenerate_cells: failed finetunes

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def cells_of(cfg: MeasureConfig) -> list[Cell]:
    """The base first (every PGF needs it), then seeds in order, sources in order."""
    return [Cell(None, None)] + [Cell(src, seed) for seed in cfg.seeds for src in cfg.source_tasks]


def matrix_model_name(cfg: MeasureConfig) -> str:
    return cfg.model.path if cfg.model.is_tiny else Path(cfg.model.path).name


# ------------------------------------------------------------------ one cell (runs in a worker)
_SESSION: dict = {}


def _session(cfg: MeasureConfig, base_path: str):
    """Per-process session: the processor and preprocessed evaluation sets are built once and
    reused by every later cell in the same process (local run or a reused Ray worker)."""
    from .runner import ModelSession

    key = (cfg.config_hash(), base_path)
    if _SESSION.get("key") != key:
        ev = cfg.evaluation
        _SESSION.clear()
        _SESSION.update(key=key, session=ModelSession(cfg.model, base_path, ev),
                        eval_items={t: cfg.task(t).items(ev.split, n=ev.n_items, seed=ev.seed) for t in cfg.tasks})
    return _SESSION["session"], _SESSION["eval_items"]


def run_cell(job: dict) -> dict:
    """Compute one cell; returns its record (``status`` 'done' or 'failed'). Picklable for Ray."""
    from .models import prepare_base
    from .training import CellFailed

    cfg = MeasureConfig.model_validate(job["config"])
    cell = Cell(job["source"], job["seed"])
    base_path = job.get("base_path")
    if not base_path or not Path(base_path).is_dir():  # a remote worker without the driver's disk
        base_path = prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], job["cache_dir"])
    session, eval_items = _session(cfg, base_path)
    record = {"source": cell.source, "seed": cell.seed, "model": matrix_model_name(cfg),
              "versions": package_versions(HEAVY_PACKAGES)}
    if cell.is_base:
        outcome = session.evaluate_base(eval_items)
    else:
        items = cfg.task(cell.source).items("train", n=cfg.training.examples_per_task, seed=cell.seed)
        adapter_dir = Path(job["out_dir"]) / "adapters" / cfg.config_hash() / cell.key if cfg.keep_adapters else None
        tmp = adapter_dir.with_name(f".{adapter_dir.name}.tmp") if adapter_dir else None
        try:
            outcome = session.finetune_and_evaluate(items, cfg.training, cell.seed, eval_items, tmp)
        except CellFailed as exc:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            return {**record, "status": "failed", "error": str(exc)}
        if adapter_dir is not None:
            shutil.rmtree(adapter_dir, ignore_errors=True)
            os.replace(tmp, adapter_dir)
            record["adapter_dir"] = str(adapter_dir.relative_to(job["out_dir"]))
        record["train"] = outcome.train
    record.update(status="done", results=outcome.results, eval_seconds=round(outcome.eval_seconds, 3))
    return record


# ------------------------------------------------------------------ the grid
def measure(cfg: MeasureConfig, out_dir: str | Path, *, executor=None, force: bool = False,
            cache_dir: str | Path | None = None, show_progress: bool = True) -> MeasureSummary:
    """Run (or resume) the grid of ``cfg`` into ``out_dir`` and write the matrix.

    ``force`` measures into a folder that holds another config's cells (they are never reused).
    ``cache_dir`` holds prepared tiny bases (default ``out_dir``; ``$PGFSELECT_CACHE_DIR`` too).
    """
    from .executors import LocalExecutor

    start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PGFSelectError(f"--out {str(out_dir)!r} is a file; give a folder")
    chash = cfg.config_hash()
    cache = CellCache(out_dir, chash)
    cache.check_foreign(allow=force)
    check_writable(out_dir, "--out")
    cache_dir = Path(cache_dir or os.environ.get("PGFSELECT_CACHE_DIR") or out_dir)
    executor = executor or LocalExecutor()
    _write_config(cfg, out_dir)

    cells = cells_of(cfg)
    todo = [c for c in cells if cache.get(c) is None]
    summary = MeasureSummary(str(out_dir), chash, total=len(cells), reused=len(cells) - len(todo), computed=0)
    with Progress("measure", "cells", show_progress, len(cells), summary.reused) as progress:
        if todo:
            from .models import prepare_base

            base_path = prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], cache_dir, log=progress.log)
            jobs = [{"config": cfg.model_dump(mode="json"), "source": c.source, "seed": c.seed,
                     "base_path": base_path, "cache_dir": str(cache_dir), "out_dir": str(out_dir)} for c in todo]
            for job, record in executor.run(run_cell, jobs):
                cell = Cell(job["source"], job["seed"])
                if record["status"] == "done":
                    cache.put(cell, record)
                    summary.computed += 1
                else:
                    cache.put_failed(cell, record["error"])
                    summary.failed.append({"cell": str(cell), "error": record["error"]})
                    progress.log(f"[red]cell {cell} failed[/]: {record['error']}")
                progress.advance(f"last: {cell}")
    summary.matrix = str(write_outputs(cfg, cache, out_dir))
    summary.degenerate = degenerate_from_cache(cfg, cache)
    summary.seconds = round(time.perf_counter() - start, 2)
    atomic_write(out_dir / "run.json", json.dumps({
        **summary.as_dict(), "cells": [c.key for c in cells], "cache_dir": str(cache_dir),
        "executor": getattr(executor, "name", type(executor).__name__),
        "versions": package_versions(HEAVY_PACKAGES)}, indent=1))
    return summary


def _write_config(cfg: MeasureConfig, out_dir: Path) -> None:
    """The resolved config, at the top and beside its cells (a --force folder holds several)."""
    import yaml

    text = yaml.safe_dump({"config_hash": cfg.config_hash(), **cfg.model_dump(mode="json")}, sort_keys=False)
    atomic_write(out_dir / "config.yaml", text)
    atomic_write(out_dir / "cells" / cfg.config_hash() / "config.yaml", text)


def write_outputs(cfg: MeasureConfig, cache: CellCache, out_dir: Path) -> Path | None:
    """matrix.csv and predictions.csv from the cached cells (None when the base is missing)."""
    import numpy as np

    from .. import __version__
    from ..matrix import PGFMatrix
    from ..tasks.schema import PROMPT_VERSION

    base = cache.get(Cell(None, None))
    if base is None:
        return None
    sources, targets, seeds = cfg.source_tasks, list(cfg.tasks), list(cfg.seeds)
    n_eval = np.array([base["results"][t]["n"] for t in targets], dtype=float)
    correct_base = np.tile([base["results"][t]["correct"] for t in targets], (len(seeds), 1)).astype(float)
    correct_ft = np.zeros((len(seeds), len(sources), len(targets)))
    measured = np.zeros(correct_ft.shape, bool)
    pred_rows = _prediction_rows("base", "", base)
    for s, seed in enumerate(seeds):
        for i, src in enumerate(sources):
            rec = cache.get(Cell(src, seed))
            if rec is None:
                continue
            measured[s, i, :] = True
            correct_ft[s, i] = [rec["results"][t]["correct"] for t in targets]
            pred_rows += _prediction_rows(src, f"seed_{seed}", rec)
    provenance = {"dataset_revision": ";".join(sorted({_revision(cfg.task(t).provenance()) for t in targets})), "prompt_version": str(PROMPT_VERSION),
                  "config_hash": cache.config_hash, "pgfselect_version": __version__}
    if cfg.training.examples_per_task:  # the training size, which the planner's saturation refers to
        provenance["examples_per_task"] = str(cfg.training.examples_per_task)
    matrix = PGFMatrix.from_counts(correct_ft, correct_base, n_eval, sources, targets, [f"seed_{s}" for s in seeds],
                                   measured=measured, model=matrix_model_name(cfg), name=str(out_dir),
                                   provenance=provenance)
    path = out_dir / "matrix.csv"
    matrix.to_csv(path)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PREDICTION_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(pred_rows)
    atomic_write(out_dir / "predictions.csv", buf.getvalue())
    return path


def _revision(prov: dict) -> str:
    """A task's data revision: the pinned dataset revision, else its generator version."""
    if prov.get("dataset_revision"):
        return f"{prov['source']}@{prov['dataset_revision']}"
    if prov.get("generator_version"):
        return f"{prov['source']}-generator-{prov['generator_version']}"
    return str(prov.get("source", ""))


def _prediction_rows(source: str, seed: str, rec: dict) -> list[dict]:
    return [{"seed": seed, "source": source, "target": target, "item_id": p["id"], "answer": p["answer"],
             "pred": p["pred"], "correct": p["correct"]}
            for target, res in rec["results"].items() for p in res["predictions"]]
