"""The measurement grid: zero-shot base, one finetune per (source, seed), every model scored on
every task; cells cached as they finish; the PGF matrix assembled from the cached counts.

Outputs in ``DIR``: ``config.yaml`` (resolved), ``matrix.csv`` (tidy, read by ``analyze`` and
``plan --matrix DIR``), ``predictions.csv`` (per item: prediction, correctness and option
probabilities), ``run.json`` (cells, failures, package versions), ``cells/`` (the cache) and
``adapters/`` (with ``keep_adapters``; each cell's record names its folder as ``adapter_dir``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ..errors import PGFSelectError
from ..fileio import TRAINING_PACKAGES, atomic_write, check_writable, package_versions, read_yaml_mapping
from ..matrix import PGFMatrix
from ..progress import Progress
from ..tasks.schema import PROMPT_VERSION
from ..version import __version__
from .bases import base_fingerprint, other_base, prepare_base
from .cache import Cell, CellCache
from .config import MeasureConfig, validate_config
from .degenerate import degenerate_from_cache
from .executors import LocalExecutor
from .runner import ModelSession
from .training import CellFailed, preflight


# p: the option probabilities (';'-separated, option order), kept so that proxies (pgfselect.proxy)
# can mix cells' outputs without running a model; empty for generated (number/text) answers.
PREDICTION_COLUMNS = ("seed", "source", "target", "item_id", "answer", "pred", "correct", "p")


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


def pending(cfg: MeasureConfig, out_dir: str | Path) -> dict:
    """What :func:`measure` would compute in ``out_dir``, found by reading only (``measure
    --dry-run``): the config hash, how many cells, ``to_run`` (the cells not finished yet, as
    text) and how many are ``reusable``."""
    cache = CellCache(out_dir, cfg.config_hash())
    cells = cells_of(cfg)
    todo = [str(c) for c in cells if cache.get(c) is None]
    return {"config_hash": cache.config_hash, "cells": len(cells), "to_run": todo, "reusable": len(cells) - len(todo)}


def matrix_model_name(cfg: MeasureConfig) -> str:
    return cfg.model.path if cfg.model.is_tiny else Path(cfg.model.path).name


def evaluation_items(cfg: MeasureConfig, tasks=None) -> dict:
    """{task id: the items every cell is scored on}: the same for the base, every seed and any
    later reader of the folder (the proxies), as the evaluation settings pick them."""
    ev = cfg.evaluation
    return {t: cfg.task(t).items(ev.split, n=ev.n_items, seed=ev.seed) for t in (tasks or cfg.tasks)}


# ------------------------------------------------------------------ one cell (runs in a worker)
_SESSION: dict = {}


def _session(cfg: MeasureConfig, base_path: str):
    """Per-process session: the processor and preprocessed evaluation sets are built once and
    reused by every later cell in the same process (local run or a reused Ray worker).
    Returns (session, eval_items, reused)."""
    key = (cfg.config_hash(), base_path)
    reused = _SESSION.get("key") == key
    if not reused:
        _SESSION.clear()
        _SESSION.update(key=key, session=ModelSession(cfg.model, base_path, cfg.evaluation),
                        eval_items=evaluation_items(cfg), fingerprint=base_fingerprint(cfg.model, base_path))
    return _SESSION["session"], _SESSION["eval_items"], reused


SHARED_MARK = ".pgfselect-shared-storage"


def run_cell(job: dict) -> dict:
    """Compute one cell; returns its record (``status`` 'done' or 'failed'). Picklable for Ray.

    In a worker that resolves the config to another hash than the driver's (its tasks read other
    data: a different $PGFSELECT_BLINK_DIR, custom-task manifest or package version) the cell is
    refused rather than filed under the driver's hash.
    """
    cfg = MeasureConfig.model_validate(job["config"])
    cell = Cell(job["source"], job["seed"])
    worker = {"pid": os.getpid(), "host": socket.gethostname()}
    chash = cfg.config_hash()
    if job.get("config_hash") and chash != job["config_hash"]:
        return {"source": cell.source, "seed": cell.seed, "status": "failed", "worker": worker,
                "error": f"the worker on {worker['host']} resolves the config to hash {chash}, the driver to "
                         f"{job['config_hash']}: its tasks' data or package versions differ (check "
                         "PGFSELECT_BLINK_DIR, PGFSELECT_CUSTOM_TASKS and pgfselect's version on the workers)"}
    adapters_root = job.get("adapters_root")
    if adapters_root and job.get("shared_token"):
        mark = Path(adapters_root) / SHARED_MARK
        if not mark.is_file() or mark.read_text() != job["shared_token"]:
            return {"source": cell.source, "seed": cell.seed, "status": "failed", "worker": worker,
                    "error": f"adapters_dir {adapters_root!r} on {worker['host']} is not the driver's folder "
                             "(not shared storage); mount it on every worker, or leave adapters_dir unset "
                             "to send adapters back to the driver"}
    base_path = job.get("base_path")
    if not base_path or not Path(base_path).is_dir():  # a remote worker without the driver's disk
        base_path = prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], job["cache_dir"])
    session, eval_items, worker["session_reused"] = _session(cfg, base_path)
    record = {"source": cell.source, "seed": cell.seed, "model": matrix_model_name(cfg), "worker": worker,
              "base_fingerprint": _SESSION["fingerprint"], "versions": package_versions(TRAINING_PACKAGES)}
    if cell.is_base:
        outcome = session.evaluate_base(eval_items, cfg.training)
    else:
        items = cfg.task(cell.source).items("train", n=cfg.training.examples_per_task, seed=cell.seed)
        scratch = None
        if adapters_root:
            final = Path(adapters_root) / chash / cell.key
            final.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
        elif job.get("return_adapters"):
            scratch = Path(tempfile.mkdtemp(prefix="pgfselect-cell-"))
        adapter_tmp = scratch / "adapter" if scratch and cfg.keep_adapters else None
        log_dir = scratch / "adapter" / "tensorboard" if scratch else None
        try:
            outcome = session.finetune_and_evaluate(items, cfg.training, cell.seed, eval_items, adapter_tmp,
                                                    log_dir=log_dir, run_name=f"{chash}/{cell.key}")
            written = scratch is not None and (scratch / "adapter").is_dir()
            if written and adapters_root:
                shutil.rmtree(final, ignore_errors=True)
                os.replace(scratch / "adapter", final)  # atomic: a killed cell leaves no half adapter
                record["adapter_dir"] = str(final)
            elif written:
                record["adapter_files"] = _pack(scratch / "adapter")
        except CellFailed as exc:
            return {**record, "status": "failed", "error": str(exc)}
        finally:
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        record["train"] = outcome.train
    record.update(status="done", results=outcome.results, eval_seconds=round(outcome.eval_seconds, 3))
    return record


def _pack(folder: Path) -> dict[str, bytes]:
    """A small folder (an adapter, its event files) as {relative path: bytes}, for the driver."""
    return {str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


def _unpack(files: dict[str, bytes], target: Path) -> None:
    """Write what a worker sent back into ``target``, replacing it at once (rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for rel, data in files.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_bytes(data)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------ the grid
def measure(cfg: MeasureConfig, out_dir: str | Path, *, executor=None, force: bool = False,
            cache_dir: str | Path | None = None, show_progress: bool = True) -> MeasureSummary:
    """Run (or resume) the grid of ``cfg`` into ``out_dir`` and write the matrix.

    ``force`` measures into a folder that holds another config's cells (they are never reused).
    ``cache_dir`` holds prepared tiny bases (default ``out_dir``; ``$PGFSELECT_CACHE_DIR`` too).
    """
    preflight(cfg.training)  # a missing optional package: refused before anything is written
    start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PGFSelectError(f"out_dir {str(out_dir)!r} is a file; give a folder")
    chash = cfg.config_hash()
    cache = CellCache(out_dir, chash)
    cache.check_foreign(allow=force)
    check_writable(out_dir, "out_dir")
    cache_dir = Path(cache_dir or os.environ.get("PGFSELECT_CACHE_DIR") or out_dir)
    executor = executor or LocalExecutor()
    _write_config(cfg, out_dir)

    cells = cells_of(cfg)
    todo = [c for c in cells if cache.get(c) is None]
    summary = MeasureSummary(str(out_dir), chash, total=len(cells), reused=len(cells) - len(todo), computed=0)
    with Progress("measure", "cells", show_progress, len(cells), summary.reused) as progress:
        if todo:
            base_path = prepare_base(cfg.model, [cfg.task(t) for t in cfg.tasks], cache_dir, log=progress.log)
            fingerprint = base_fingerprint(cfg.model, base_path)
            _check_same_base(cfg, cache, [c for c in cells if c not in todo], fingerprint, out_dir)
            common = {"config": cfg.model_dump(mode="json"), "config_hash": chash, "base_path": base_path,
                      "cache_dir": str(cache_dir), **_adapter_route(cfg, out_dir, executor)}
            jobs = [{**common, "source": c.source, "seed": c.seed} for c in todo]
            for job, record in executor.run(run_cell, jobs):
                cell = Cell(job["source"], job["seed"])
                if record["status"] == "done" and other_base(record.get("base_fingerprint"), fingerprint):
                    # A worker without the driver's disk built its own base, on another CPU type.
                    record = {"status": "failed", "error": f"the worker on {record['worker']['host']} built base "
                              f"{record['base_fingerprint']}, not the driver's {fingerprint} (a tiny base is "
                              "bit-identical only on one CPU type): give the workers the driver's cache_dir "
                              "(shared storage) or workers of the driver's CPU type"}
                if record["status"] == "done":
                    files = record.pop("adapter_files", None)
                    if files is not None:  # sent back by a worker: file it in DIR/adapters
                        _unpack(files, out_dir / "adapters" / chash / cell.key)
                        record["adapter_dir"] = str(out_dir / "adapters" / chash / cell.key)
                    if record.get("adapter_dir") and Path(record["adapter_dir"]).is_relative_to(out_dir):
                        record["adapter_dir"] = str(Path(record["adapter_dir"]).relative_to(out_dir))
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
        "versions": package_versions(TRAINING_PACKAGES)}, indent=1))
    return summary


def _check_same_base(cfg: MeasureConfig, cache: CellCache, finished: list[Cell], current: str | None,
                     out_dir: Path) -> None:
    """Refuse to add cells to a folder whose finished cells started from another base: the same
    settings build another tiny base on another CPU type, and one matrix must describe one model."""
    recorded = {c: (cache.get(c) or {}).get("base_fingerprint") for c in finished}  # each cell file read once
    other = [c for c, fp in recorded.items() if other_base(fp, current)]
    if other:
        raise PGFSelectError(f"out_dir {str(out_dir)!r}: {len(other)} finished cells ({other[0]}, ...) were measured on base "
                             f"{recorded[other[0]]}, but this machine builds base {current} from the same settings (a tiny base is "
                             "bit-identical only on one CPU type); resume where that base is built, or measure into a "
                             "new folder")


def _adapter_route(cfg: MeasureConfig, out_dir: Path, executor) -> dict:
    """Where a cell puts its adapter: ``adapters_dir`` (checked in each worker to be the driver's
    folder through a token file), ``DIR/adapters`` when the cells run on this machine's disk, or
    back to the driver in the cell's result (a Ray worker may be another machine)."""
    if cfg.adapters_dir:
        root = Path(cfg.adapters_dir)
        token = uuid.uuid4().hex
        atomic_write(root / SHARED_MARK, token)
        return {"adapters_root": str(root), "shared_token": token}
    if getattr(executor, "shares_disk", True):
        return {"adapters_root": str(out_dir / "adapters")}
    return {"return_adapters": True}


def _write_config(cfg: MeasureConfig, out_dir: Path) -> None:
    """The resolved config, at the top and beside its cells (a folder measured with force=True holds several)."""
    text = yaml.safe_dump({"config_hash": cfg.config_hash(), **cfg.model_dump(mode="json")}, sort_keys=False)
    atomic_write(out_dir / "config.yaml", text)
    atomic_write(out_dir / "cells" / cfg.config_hash() / "config.yaml", text)


def folder_config(out_dir: str | Path, config_hash: str | None = None) -> MeasureConfig:
    """The resolved config a measure folder was made with (``config_hash``: the one beside those
    cells, for a folder that holds several configs' cells); checked to resolve to that hash
    again, so the tasks' data and the prompt are what the cells were scored on."""
    out_dir = Path(out_dir)
    path = out_dir / "cells" / str(config_hash) / "config.yaml"
    if not config_hash or not path.is_file():  # the top one is the last run's (checked below)
        path = out_dir / "config.yaml"
    doc = read_yaml_mapping(path, "measure config", not_mapping="not a measure config")
    recorded = doc.pop("config_hash", None)
    cfg = validate_config(doc, MeasureConfig, where=str(path))
    if recorded and cfg.config_hash() != recorded:
        raise PGFSelectError(f"{str(path)!r} now resolves to config hash {cfg.config_hash()}, not the {recorded} "
                             "its cells were measured with (a task's data, generator or the prompt version changed)")
    return cfg


def write_outputs(cfg: MeasureConfig, cache: CellCache, out_dir: Path) -> Path | None:
    """matrix.csv and predictions.csv from the cached cells (None when the base is missing)."""
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
    if base.get("base_fingerprint"):
        provenance["base_fingerprint"] = base["base_fingerprint"]
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
             "pred": p["pred"], "correct": p["correct"], "p": ";".join(map(str, p.get("p") or ()))}
            for target, res in rec["results"].items() for p in res["predictions"]]
