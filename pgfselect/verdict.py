"""The sentences that read a comparison: is the planned mix better than each alternative, or
not separable with the seeds run, and did it choose the same mixture as another strategy?"""

from __future__ import annotations

import json

from .compare import RunRecord, paired_difference


def _mixtures(runs: list[RunRecord]) -> dict[str, dict]:
    """strategy -> {seed: allocation} from the runs' config.json."""
    out: dict[str, dict] = {}
    for r in runs:
        try:
            alloc = json.loads((r.path / "config.json").read_text()).get("allocation")
        except (OSError, json.JSONDecodeError):
            continue
        out.setdefault(r.strategy, {})[r.seed] = alloc
    return out


def read_comparison(rows: list[dict], runs: list[RunRecord]) -> list[str]:
    """One sentence per alternative to the mixture under test (the first row), plus notes on
    identical mixtures. Differences are paired over the seeds both ran, with t-intervals."""
    rows = [r for r in rows if r["folder"] == rows[0]["folder"]] if rows else []
    if not rows or rows[0]["strategy"].endswith("zero_shot"):
        return []
    mix = rows[0]
    name, acc = mix["strategy"], {k: v for k, v in mix["accuracies"].items()}
    out = []
    mixtures = _mixtures([r for r in runs if str(r.folder) == mix["folder"]])
    plain = {s.split(":")[-1]: m for s, m in mixtures.items()}
    base = plain.get(name.split(":")[-1])
    for other in rows[1:]:
        if base and plain.get(other["strategy"].split(":")[-1]) == base and other["accuracies"] == acc:
            continue  # the same runs: said once below, not as a zero-width "not separable"
        if other["strategy"].endswith("zero_shot"):
            gain = mix["gain_vs_zero_shot"]
            if gain is not None and mix["ci_low"] is not None:
                lo, hi = mix["ci_low"] - other["mean"], mix["ci_high"] - other["mean"]
                verdict = "above" if lo > 0 else "below" if hi < 0 else "not separable from"
                out.append(f"{name} is {verdict} zero-shot: {gain:+.1%} [{lo:+.1%}, {hi:+.1%}]")
            continue
        d = paired_difference(acc, other["accuracies"], mix["level"])
        if d is None or d["ci_low"] is None:
            continue
        n = d["n_pairs"]
        if d["ci_low"] > 0:
            verdict = f"better than {other['strategy']}"
        elif d["ci_high"] < 0:
            verdict = f"worse than {other['strategy']}"
        else:
            verdict = f"not separable from {other['strategy']} with {n} seeds"
        out.append(f"{name} is {verdict}: {d['mean_diff']:+.1%} [{d['ci_low']:+.1%}, {d['ci_high']:+.1%}] (paired)")
    for s, m in plain.items():
        if base and s != name.split(":")[-1] and m == base:
            out.append(f"{name} chose the same mixture as {s} ({_describe(next(iter(base.values())))})")
    return out


def _describe(alloc: dict) -> str:
    return ", ".join(f"{k.split(':', 1)[-1]} {v}" for k, v in alloc.items())
