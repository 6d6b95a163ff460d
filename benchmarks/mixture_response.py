"""Does a fitted mixture response beat the blend on the synthetic suite? (issue 16, item 3)

Data: the pairs study (results/selection_synthetic_pairs.json, val split, 2 seeds): per target,
its two best sources each trained alone on the whole budget (a, b) and together half and half.
Per target these three mixes identify Scheffé's quadratic exactly (β_a = a, β_b = b, γ from the
pair), leaving nothing to validate on, so the check pools targets: the fitted response with one
interaction γ shared by all targets, fitted on 12 targets and scored on the 13th (leave one
target out), against the blend (γ = 0), on the pair's PGF.

    .venv/bin/python benchmarks/mixture_response.py    # writes results/mixture_response.json
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main():
    pairs = json.loads((ROOT / "benchmarks" / "results" / "selection_synthetic_pairs.json").read_text())["targets"]
    targets = list(pairs)
    rows = []
    for held in targets:
        # The response minus the blend is γ·w_a·w_b = γ/4 at half and half; least squares on the
        # other targets gives γ/4 = their mean (pair − blend).
        gamma_term = float(np.mean([pairs[t]["pair"] - pairs[t]["average"] for t in targets if t != held]))
        p = pairs[held]
        rows.append({"target": held, "pair": p["pair"], "blend": p["average"], "fitted": p["average"] + gamma_term})
    err = {k: float(np.mean([abs(r["pair"] - r[k]) for r in rows])) for k in ("blend", "fitted")}
    out = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "mae": err,
           "fitted_beats_blend_on": sum(abs(r["pair"] - r["fitted"]) < abs(r["pair"] - r["blend"]) for r in rows),
           "targets": rows}
    (ROOT / "benchmarks" / "results" / "mixture_response.json").write_text(json.dumps(out, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "targets"}, indent=1))


if __name__ == "__main__":
    main()
