"""Post-hoc reading of the scarce-target study (issue 16; benchmarks/RESULTS.md, scarce_target):
does pgf+target beat direct(n) where the chosen source alone transfers more than the n own
examples teach? Per target: the source-alone accuracy the matrix predicts (the base's accuracy
+ PGF(source -> target) x headroom, the matrix's val split at its training size) against
direct(n)'s observed test accuracy, and the Spearman correlation of that gap with the observed
gain of pgf+target over direct. Uses direct's observed accuracy, so it explains, it does not
predict: not a tuned rule.

    .venv/bin/python benchmarks/scarce_target_why.py        # both records, as in RESULTS.md
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

RESULTS = Path(__file__).resolve().parent / "results"
RECORDS = {"50": ("scarce_target_base3797309a", "selection_synthetic_matrix.csv"),
           "200": ("scarce_target_base4d531110", "selection_synthetic_matrix_base4d531110.csv")}


def gaps(record: dict, matrix: pd.DataFrame, n: str) -> pd.DataFrame:
    rows = []
    cells = matrix[matrix.status == "measured"]
    for target, by_n in record["targets"].items():
        arms = by_n[n]
        alloc = arms["pgf+target"]["allocation"]
        source = next(s for s in alloc if s.split(":", 1)[1] != target)
        c = cells[(cells.source == source) & (cells.target == f"synthetic:{target}")]
        base = c.correct_base.sum() / c.n_eval.sum()
        alone = base + c.pgf.mean() * (1 - base)
        rows.append({"target": target, "source": source.split(":", 1)[1], "source_alone": alone,
                     "pgf+target": arms["pgf+target"]["mean"], "direct": arms["direct"]["mean"]})
    df = pd.DataFrame(rows)
    df["gain"] = df["pgf+target"] - df["direct"]
    df["alone_minus_direct"] = df["source_alone"] - df["direct"]
    return df


def main() -> None:
    for n, (record, matrix) in RECORDS.items():
        df = gaps(json.loads((RESULTS / record / "scarce_target.json").read_text()),
                  pd.read_csv(RESULTS / matrix), n)
        rho, p = spearmanr(df.gain, df.alone_minus_direct)
        print(f"n = {n} ({record}): Spearman(gain, source alone - direct) {rho:.2f} (p {p:.1g}); "
              f"mean source alone - pgf+target {(df.source_alone - df['pgf+target']).mean():+.3f}")
        print(df.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
