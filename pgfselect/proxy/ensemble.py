"""The ensemble proxy (Mixture of Data Experts, Belenki et al. 2025, arXiv 2502.15950): a model
trained on a mix is estimated by the share-weighted mean of the option probabilities of the
models finetuned on each source alone. No model runs: the probabilities are the ones ``measure``
recorded in ``predictions.csv`` for every (seed, source, target) cell."""

from __future__ import annotations

import csv

import numpy as np

from ..errors import PGFSelectError
from .core import ProxyResult, Setup, common_seeds, proxy_result, resolve_mix

# Mixed probabilities closer than this count as tied (they differ by float summation only).
TIE = 1e-12


def ensemble_proxy(matrix_dir, mix: dict[str, float], target: str) -> ProxyResult:
    """The ensemble proxy of ``mix`` (source -> share, normalised here) on ``target``, per seed
    of the folder where every mixed source was measured."""
    setup = resolve_mix(matrix_dir, mix, target)
    cells = _read_cells(setup)
    seeds = common_seeds(setup, lambda seed: all((seed, src) in cells for src in setup.mix))
    correct, predictions = [], {}
    for seed in seeds:
        items = mix_items([(w, cells[seed, src]) for src, w in setup.mix.items()], f"{setup.target} ({seed})")
        predictions[seed] = items
        correct.append(sum(it["correct"] for it in items))
    return proxy_result(setup, "ensemble", seeds, correct, predictions)


def mix_items(weighted: list[tuple[float, list[dict]]], where: str) -> list[dict]:
    """Per item, the weighted mean of the cells' probability vectors and its argmax.

    ``weighted``: (share, the cell's rows in item order) per source. The recorded ``p`` are
    rounded (4 decimals), so two options can tie where the model's did not: a tie is broken by
    the share-weighted vote of the cells' recorded answers (each the argmax of the unrounded
    probabilities), then by the first option, as an argmax over logits breaks exact ties. With one
    source at share 1 this gives back its recorded answers exactly.
    """
    first = weighted[0][1]
    ids = [row["item_id"] for row in first]
    for _, rows in weighted[1:]:
        if [row["item_id"] for row in rows] != ids:
            raise PGFSelectError(f"{where}: the mixed cells were scored on different items; "
                                 "predictions.csv does not come from one measure config")
    out = []
    for k, item_id in enumerate(ids):
        probs = [np.asarray(rows[k]["p"], float) for _, rows in weighted]
        if len({p.size for p in probs}) != 1:
            raise PGFSelectError(f"{where}: item {item_id} has different option counts in the mixed cells")
        p = sum(w * q for (w, _), q in zip(weighted, probs))
        tied = np.flatnonzero(p >= p.max() - TIE)
        votes = np.zeros(p.size)
        for w, rows in weighted:
            votes[int(rows[k]["pred"])] += w
        pred = int(tied[np.argmax(votes[tied])]) if tied.size > 1 else int(tied[0])
        answer = int(first[k]["answer"])
        out.append({"id": item_id, "answer": answer, "pred": pred, "correct": int(pred == answer),
                    "p": [float(x) for x in p]})
    return out


def _read_cells(setup: Setup) -> dict[tuple[str, str], list[dict]]:
    """{(seed, source): rows towards the target, in file (= item) order} for the mixed sources."""
    path = setup.folder / "predictions.csv"
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            if "p" not in (reader.fieldnames or ()):
                raise PGFSelectError(f"{path} has no option probabilities (column p; measured before they were "
                                     "kept): rerun `pgfselect measure` with the folder's config into the folder, which "
                                     "reuses every cell and rewrites predictions.csv with them")
            cells: dict[tuple[str, str], list[dict]] = {}
            for row in reader:
                if row["target"] == setup.target and row["source"] in setup.mix and row["seed"]:
                    cells.setdefault((row["seed"], row["source"]), []).append(row)
    except OSError as exc:
        raise PGFSelectError(f"cannot read {path}: {exc.strerror or exc}") from None
    for (seed, source), rows in cells.items():
        for row in rows:
            if not row["p"]:
                raise PGFSelectError(f"target {setup.target} is scored by generation (answers of type number or "
                                     "text have no option probabilities): the ensemble proxy cannot mix it; "
                                     "use the merge proxy (kind=merge)")
            row["p"] = [float(x) for x in row["p"].split(";")]
    return cells
