"""Degenerate cells of a measurement: finetunes that did nothing a matrix can be read from.

A PGF of 0 can mean "this source neither helps nor hurts the target", or "the finetune changed
nothing at all". The second is a failed measurement, not a finding, and it looks the same in
``matrix.csv``. :func:`degenerate_cells` tells them apart from the per-item predictions that every
cell keeps:

* **row identical to the base**: the finetuned model gives exactly the base's answer to every
  item of every task (the adapter changed no prediction);
* **unchanged targets**: the same, for some targets of a row only;
* **own task not learned**: the source's accuracy on its own task (the diagonal) is not above the
  base's, so the finetune did not learn what it was trained on.

Pure Python on the cached records (``record["results"][task]["predictions"]``, each prediction a
dict with ``id`` and ``pred``): no torch, testable with constructed predictions.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from .cache import Cell


def _preds(record: Mapping, task: str) -> dict:
    return {p["id"]: p["pred"] for p in record["results"][task].get("predictions", ())}


def degenerate_cells(base: Mapping, cells: Iterable[tuple[str, int, Mapping]]) -> list[dict]:
    """One entry per degenerate (source, seed) cell: ``{"source", "seed", "kind", "targets", "warning"}``.

    ``base``: the zero-shot record; ``cells``: ``(source, seed, record)`` of finished finetunes.
    ``kind`` is ``"row_identical_to_base"`` (every prediction of every target unchanged),
    ``"unchanged_targets"`` (the targets listed kept every prediction) or ``"own_task_not_learned"``
    (the diagonal's accuracy is not above the base's). A cell can have the last two at once.
    """
    out = []
    for source, seed, rec in cells:
        targets = [t for t in rec["results"] if t in base["results"]]
        same = [t for t in targets if _preds(rec, t) and _preds(rec, t) == _preds(base, t)]
        where = f"{source} (seed {seed})"
        if targets and len(same) == len(targets):
            out.append({"source": source, "seed": seed, "kind": "row_identical_to_base", "targets": same,
                        "warning": f"{where}: the finetuned model gives the base's answer to every item of every "
                                   "task (it changed no prediction): its row of PGF 0 is a failed finetune, not "
                                   "'no transfer'"})
            continue
        if same:
            out.append({"source": source, "seed": seed, "kind": "unchanged_targets", "targets": same,
                        "warning": f"{where}: no prediction changed on {len(same)} of {len(targets)} tasks "
                                   f"({', '.join(same)})"})
        if source in rec["results"] and source in base["results"]:
            own, zero = rec["results"][source], base["results"][source]
            if own["n"] and zero["n"] and own["correct"] / own["n"] <= zero["correct"] / zero["n"]:
                out.append({"source": source, "seed": seed, "kind": "own_task_not_learned", "targets": [source],
                            "warning": f"{where}: accuracy on its own task {own['correct']}/{own['n']} is not above "
                                       f"the base's {zero['correct']}/{zero['n']}: the finetune did not learn the "
                                       "task it was trained on"})
    return out


def degenerate_from_cache(cfg, cache) -> list[dict]:
    """:func:`degenerate_cells` of every finished cell in a measure folder's cache."""
    base = cache.get(Cell(None, None))
    if base is None:
        return []
    cells = [(src, seed, rec) for seed in cfg.seeds for src in cfg.source_tasks
             if (rec := cache.get(Cell(src, seed))) is not None]
    return degenerate_cells(base, cells)
