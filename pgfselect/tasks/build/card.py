"""The data card written with every build, and the rows of ``tasks build --list``."""

from __future__ import annotations

from ...names import BLINK_TASKS
from .base import ABSENT, BUILDERS, Builder


def builder_rows() -> list[dict]:
    """One row per (task, format), plus one per task with no builder (status ``absent``)."""
    rows = []
    for task in BLINK_TASKS:
        if task in ABSENT:
            rows.append({"task": f"blink:{task}", "from": None, "status": "absent", "dataset": None,
                         "needs": [], "layout": None, "note": ABSENT[task]})
        for (t, fmt), b in sorted(BUILDERS.items()):
            if t == task:
                rows.append({"task": f"blink:{task}", "from": fmt, "status": b.status, "dataset": b.dataset,
                             "needs": list(b.needs), "layout": b.layout, "note": b.note})
    return rows


def data_card(b: Builder, summary: dict) -> str:
    leak = summary["leak_guard"]
    guard = ("not run (no --exclude-images): check these items against BLINK val/test before evaluating on BLINK"
             if leak["exclude_images"] is None else
             f"pHash (64 bits, Hamming distance <= {leak['max_hamming_distance']}) against {leak['excluded_hashes']} "
             f"images of {leak['exclude_images']}: {leak['source_images_dropped']} source image(s) and "
             f"{leak['items_dropped']} candidate item(s) dropped")
    val = ("none (evaluate on blink:" + b.task + " val)" if not summary.get("val") else
           f"BLINK's own val items of {b.task} ({summary['val']['n']}, from {summary['val']['from']}): for evaluation")
    skipped = ", ".join(f"{k}: {v}" for k, v in summary["skipped"].items()) or "none"
    files = "\n".join(f"  - `{p}`: sha256 `{h}`" for p, h in summary["inputs"]["sha256"].items()) or "  - (none)"
    return f"""# {summary['task']} built from {b.dataset} (`--from {b.fmt}`)

BLINK-style **training** items: same question wording, number of choices and images, and visual
prompts as BLINK's `{b.task}`; evaluate on BLINK val, never on these.

| field | value |
|---|---|
| items | {summary['n']} (split `train`), seed {summary['seed']}, wording `{summary['wording']}` |
| val split | {val} |
| builder | `{b.task}` / `{b.fmt}`, version {b.version}, status **{b.status}** |
| source dataset | {b.dataset}: {b.layout} |
| reader follows | {b.cites} |
| licence | {b.license} |
| candidates visited | {summary['candidates_seen']} (visits of source records skipped: {skipped}) |
| leak guard | {guard} |

**Faithfulness.** {b.note}.

**Inputs.**
{files}

Each item of `train.jsonl` records its `source` (dataset, image id and/or file name, and what the
answer was derived from); `pgfselect tasks export custom:THIS/task.yaml` keeps it. See
data_cards/built-tasks.md in the pgfselect repository for every builder and its known issues.
"""
