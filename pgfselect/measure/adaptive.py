"""Adaptive measurement: finetune only the sources that matter for one target.

Loop: ``suggest`` the next source for the target (from the partial matrix and the priors) →
measure it on every seed (the engine's resumable cells) → refit → plan. Stops after
``max_finetunes`` new sources, when no source is left, or when the plan has not changed for
``patience`` consecutive measurements (an empty plan never counts as settled). The partial matrix is written after every step
(``OUT/matrix.csv``), and the steps to ``OUT/adaptive.json``, so a killed loop resumes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PGFSelectError
from ..fileio import atomic_write
from ..matrix import load, PGFMatrix
from ..names import resolve
from ..plan import MixturePlanner
from ..predict import complete, suggest, with_all_sources
from .config import MeasureConfig
from .engine import measure, pending


def measure_adaptive(cfg: MeasureConfig, out_dir, target: str, max_finetunes: int, *, priors=(), budget="2k",
                     patience: int = 1, executor=None, force: bool = False, cache_dir=None,
                     show_progress: bool = True, log=print) -> dict:
    """Run the loop; returns the history (also written to ``OUT/adaptive.json``)."""
    if isinstance(max_finetunes, bool) or not isinstance(max_finetunes, int) or max_finetunes < 1:
        raise PGFSelectError(f"max_finetunes must be a whole number ≥ 1, got {max_finetunes!r}")
    target_id = resolve(target, cfg.tasks, "target")
    out_dir = Path(out_dir)
    measured = [s for s in (cfg.sources or []) if s != target_id]
    candidates = [t for t in cfg.tasks if t != target_id]
    if not measured and not priors:
        raise PGFSelectError("with nothing measured, adaptive measurement needs a prior (priors=MATRIX, e.g. "
                             "published:qwen2.5-vl-3b) or some first sources in the config's `sources`")
    history, previous, stable = [], None, 0
    while True:
        summary = measure(cfg.model_copy(update={"sources": list(measured)}), out_dir, executor=executor,
                          force=force, cache_dir=cache_dir, show_progress=show_progress)
        force = False  # only the first call may set aside another config's cells
        if summary.failed:
            raise PGFSelectError(f"cell(s) failed: {'; '.join(f['cell'] + ': ' + f['error'] for f in summary.failed)}")
        if measured:
            matrix = with_all_sources(load(out_dir))
        else:  # only the base so far: every cell unmeasured
            n = len(cfg.tasks)
            matrix = PGFMatrix.from_values(np.full((1, n, n), np.nan), cfg.tasks, cfg.tasks, model=summary.matrix or "")
        plan = current_plan(matrix, target_id, budget, priors)
        step = {"measured": list(measured), "plan": plan, "seconds": summary.seconds,
                "degenerate": summary.degenerate}
        stable = stable + 1 if plan_settled(plan, previous) else 0
        previous = plan
        new = len(measured) - len([s for s in (cfg.sources or []) if s != target_id])
        left = [c for c in candidates if c not in measured]
        reason = None
        if new >= max_finetunes:
            reason = f"reached max_finetunes={max_finetunes}"
        elif not left:
            reason = "every source is measured"
        elif measured and stable >= patience:
            reason = f"the plan did not change after {stable} more measurement(s)"
        if reason is None:
            pick = suggest(matrix, target_id, 1, priors=priors)
            step["next"] = {"source": pick.sources[0], "reason": pick.reasons[0]}
            log(f"adaptive: next source {pick.sources[0]} ({pick.reasons[0]})")
            measured.append(pick.sources[0])
        else:
            step["stopped"] = reason
        history.append(step)
        doc = {"target": target_id, "max_finetunes": max_finetunes, "budget": str(budget),
               "priors": [p.name for p in priors], "steps": history,
               "finetunes": len(measured) * len(cfg.seeds)}
        atomic_write(out_dir / "adaptive.json", json.dumps(doc, indent=1, default=str))
        if reason is not None:
            log(f"adaptive: stopped: {reason}")
            return doc


def pending_adaptive(cfg: MeasureConfig, out_dir, target: str, max_finetunes: int) -> dict:
    """What :func:`measure_adaptive` would do, found by reading only: :func:`~.engine.pending`
    of its first round (the config's sources, the target left out), and ``at_most_more``, the
    most finetunes the loop may add after it."""
    target_id = resolve(target, cfg.tasks, "target")
    first = pending(cfg.model_copy(update={"sources": [s for s in (cfg.sources or []) if s != target_id]}), out_dir)
    return {"config_hash": first["config_hash"], "adaptive": True, "target": target_id, "max_finetunes": max_finetunes,
            "at_most_more": max_finetunes * len(cfg.seeds), **first}


def plan_settled(plan: dict | None, previous: dict | None) -> bool:
    """Whether one more measurement left the plan as it was. An empty plan ("no source helps")
    never counts as settled: it may only mean the helpful sources are not measured yet."""
    allocation = (plan or {}).get("allocation")
    return bool(allocation) and previous is not None and allocation == previous.get("allocation")


def current_plan(matrix, target_id, budget, priors=()) -> dict:
    """The plan the current knowledge gives: the partial matrix completed with the priors
    (``{"error": ...}`` when nothing can be planned yet)."""
    try:
        completion = complete(matrix, list(priors))
        return MixturePlanner(target_id, budget).fit(matrix, completion).to_dict()
    except PGFSelectError as exc:
        return {"error": str(exc)}
