"""Figures and reports of fitted :class:`~pgfselect.analysis.TransferAnalysis` objects.

* :func:`heatmap_png` – seed-mean PGF, diverging colours centred at 0, cell values, hatched cells
  whose CI over seeds includes 0;
* :func:`bars_png` – transferability and malleability per task (several matrices side by side);
* :func:`transfer_graph_html` – an interactive, self-contained transfer graph (vis-network,
  vendored from pyvis and inlined: the page fetches nothing when viewed);
* :func:`markdown_report` – the report tying these together;
* :func:`render` – all of them as ``{file name: bytes}``, so a caller writes them atomically.

matplotlib runs on its Agg backend (no screen needed) and is imported only when drawing.
"""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Sequence

import numpy as np

from .analysis import PERSONAS, SIGNS, VIEWS, TransferAnalysis, analyses_json, persona_summary, task_group
from .fileio import atomic_write, check_writable
from .names import short_label
from .plotting import png_bytes, pyplot

VIS_JS = "data/vendor/vis-network-9.1.2/vis-network.min.js"
GRAPH_TEMPLATE = "data/transfer_graph.html"
SYMBOLS = {("transferability", "positive"): "Δ+", ("transferability", "negative"): "Δ−",
           ("malleability", "positive"): "Θ+", ("malleability", "negative"): "Θ−"}
DEFAULT_GRAPH_THRESHOLD = None  # None: the page opens on the strongest edges (DEFAULT_TOP_EDGES)
DEFAULT_TOP_EDGES = 12


# ------------------------------------------------------------------------- names
alias = short_label  # the name the report's templates and tests know it by


def long_label(task: str) -> str:
    """Tick label a reader understands without a key: the task's name and its alias
    ('synthetic:Counting' -> 'synthetic:Counting (CT)'; the alias is what the graph, cliques and
    personas use)."""
    short = alias(task)
    return task if short == task else f"{task} ({short.rpartition(':')[2]})"


def label_of(a: TransferAnalysis) -> str:
    return a.name_ or a.model_ or "matrix"


def file_slugs(analyses: Sequence[TransferAnalysis]) -> list[str]:
    """A distinct, file-name-safe slug per matrix ('published:qwen2.5-vl-7b' -> 'published-qwen2.5-vl-7b')."""
    out: list[str] = []
    for a in analyses:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", label_of(a)).strip("-.") or "matrix"
        slug, k = base, 2
        while slug in out:
            slug, k = f"{base}-{k}", k + 1
        out.append(slug)
    return out


# ------------------------------------------------------------------------- figures
def _png(fig) -> bytes:
    return png_bytes(fig, dpi=130)


def heatmap_png(a: TransferAnalysis) -> bytes:
    """Seed-mean PGF heatmap (rows: source finetuned on, columns: target evaluated)."""
    plt = pyplot()
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    mean = a.mean_
    n = len(a.tasks_)
    # PGF 1 closes all headroom; negatives can go far below −1, so clip the colour scale at ±1
    # (numbers are still printed) and keep it symmetric so both signs read the same.
    vlim = max(min(1.0, float(np.abs(mean).max())), 1e-9)
    norm = Normalize(-vlim, vlim)
    fig, ax = plt.subplots(figsize=(2.2 + 0.62 * n, 1.8 + 0.52 * n))
    image = ax.imshow(mean, cmap="RdBu", norm=norm)
    lo, hi = a.cell_ci_
    for i in range(n):
        for j in range(n):
            shade = abs(norm(np.clip(mean[i, j], -vlim, vlim)) - 0.5) * 2
            ax.text(j, i, f"{mean[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if shade > 0.6 else "black")
            if np.isfinite(lo[i, j]) and lo[i, j] <= 0 <= hi[i, j]:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="////",
                                       edgecolor="0.45", linewidth=0))
        ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", linewidth=1.2))
    labels = [long_label(t) for t in a.tasks_]
    ax.set_xticks(range(n), labels, rotation=45, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("target (evaluated)")
    ax.set_ylabel("source (finetuned on)")
    extend = {(False, False): "neither", (True, False): "min", (False, True): "max", (True, True): "both"}[
        (bool(mean.min() < -vlim), bool(mean.max() > vlim))]
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, extend=extend,
                 label="seed-mean PGF (share of the base's headroom closed):\n(acc_ft − acc_base) / (1 − acc_base)")
    crosses = "hatched: the {:.0%} CI over {} seeds includes 0".format(a.ci_level, len(a.seeds_)) \
        if len(a.seeds_) > 1 else "one seed: no CI"
    ax.set_title(f"{label_of(a)}\n{crosses}; boxed: diagonal (self-finetuning)", fontsize=9)
    return _png(fig)


def bars_png(analyses: Sequence[TransferAnalysis]) -> bytes:
    """Transferability (top) and malleability (bottom): positive bars up, negative bars down,
    one colour per matrix, whiskers = jackknife CI over seeds."""
    plt = pyplot()

    tasks = analyses[0].tasks_
    n, k = len(tasks), len(analyses)
    width = 0.8 / k
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 0.75 * n * max(1, k * 0.6)), 7.5), sharex=True)
    colours = plt.get_cmap("tab10").colors
    x = np.arange(n)
    for ax, view in zip(axes, VIEWS):
        for m, a in enumerate(analyses):
            idx = [a.tasks_.index(t) for t in tasks]
            pos = x - 0.4 + width * (m + 0.5)
            for sign in SIGNS:
                value = a.scores_[view][sign][idx]
                lo, hi = (b[idx] for b in a.score_ci_[view][sign])
                ax.bar(pos, value, width * 0.92, color=colours[m % 10], alpha=1.0 if sign == "positive" else 0.55,
                       hatch=None if sign == "positive" else "//", edgecolor="white", linewidth=0.3,
                       label=label_of(a) if sign == "positive" else None)
                ok = np.isfinite(lo)
                ax.vlines(pos[ok], lo[ok], hi[ok], color="black", linewidth=0.9)
        ax.axhline(0, color="black", linewidth=0.6)
        pos_sym, neg_sym = SYMBOLS[(view, "positive")], SYMBOLS[(view, "negative")]
        ax.set_ylabel(f"{view}\n{pos_sym} (up), {neg_sym} (down)")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower left", bbox_to_anchor=(1.01, 0.0), title="matrix", title_fontsize=8)
    axes[1].set_xticks(x, [long_label(t) for t in tasks], rotation=45, ha="right", rotation_mode="anchor")
    ci = analyses[0].ci_level
    fig.suptitle(f"Transferability (as source) and malleability (as target); whiskers: {ci:.0%} CI "
                 "over seeds (jackknife)", fontsize=10)
    fig.tight_layout()
    fig.text(0.01, -0.01, "Δ+ / Δ−: how much finetuning on the task helps / hurts the other tasks (a weighted mean "
             "of its positive / negative PGFs as source); Θ+ / Θ−: how much the task gains / loses from "
             "finetuning on the others (as target).", fontsize=8, ha="left", va="top", wrap=True)
    return _png(fig)


# ------------------------------------------------------------------------- graph page
def top_edges_threshold(a: TransferAnalysis, k: int = DEFAULT_TOP_EDGES) -> float:
    """The |PGF| of the k-th strongest off-diagonal edge: a filter at it shows the k strongest
    edges (more on ties), so a 13-task matrix opens on its main structure, not 150 edges."""
    off = np.abs(a.mean_[~np.eye(len(a.tasks_), dtype=bool)])
    off = np.sort(off[np.isfinite(off) & (off > 0)])[::-1]
    if off.size == 0:
        return 0.0
    return float(np.floor(off[min(k, off.size) - 1] * 1000) / 1000)  # floored: the k-th edge stays in


def graph_data(analyses: Sequence[TransferAnalysis], threshold: float | None = DEFAULT_GRAPH_THRESHOLD,
               top_edges: int = DEFAULT_TOP_EDGES) -> dict:
    """What the transfer-graph page draws (strict JSON: no NaN). ``threshold``: the initial |PGF|
    filter; None opens each matrix on its ``top_edges`` strongest edges."""
    models = []
    vmax = 0.0
    for a in analyses:
        lo, hi = a.cell_ci_
        labels = a.personas()
        tasks = []
        for k, t in enumerate(a.tasks_):
            level, level_sure = task_group(t, "level")
            gran, gran_sure = task_group(t, "granularity")
            tasks.append({"id": t, "alias": alias(t), "level": level, "level_certain": level_sure,
                          "granularity": gran, "granularity_certain": gran_sure,
                          "certain": level_sure and gran_sure,
                          **{view: {s: float(a.scores_[view][s][k]) for s in SIGNS} for view in VIEWS},
                          "personas": [p for p in PERSONAS if t in labels[p]]})
        edges = []
        for i, src in enumerate(a.tasks_):
            for j, tgt in enumerate(a.tasks_):
                if i == j:
                    continue
                sure = bool(np.isfinite(lo[i, j]))
                edges.append({"from": src, "to": tgt, "mean": float(a.mean_[i, j]),
                              "lo": float(lo[i, j]) if sure else None, "hi": float(hi[i, j]) if sure else None,
                              "half": float(hi[i, j] - lo[i, j]) / 2 if sure else None,
                              "per_seed": [float(v) for v in a.values_[:, i, j]]})
                vmax = max(vmax, abs(float(a.mean_[i, j])))
        models.append({"label": label_of(a), "model": a.model_, "seeds": list(a.seeds_), "tasks": tasks,
                       "threshold": top_edges_threshold(a, top_edges) if threshold is None else threshold,
                       "alias": {t: alias(t) for t in a.tasks_}, "edges": edges,
                       "cliques": {s: [c.to_dict() for c in a.cliques_[s]] for s in SIGNS}})
    vmax = min(max(vmax, 0.01), 1.0)
    for m in models:
        m["threshold"] = min(m["threshold"], vmax)
    return {"ci_level": analyses[0].ci_level, "vmax": vmax, "threshold": models[0]["threshold"],
            "top_edges": top_edges if threshold is None else None, "models": models}


def transfer_graph_html(analyses: Sequence[TransferAnalysis], threshold: float | None = DEFAULT_GRAPH_THRESHOLD) -> str:
    """A single self-contained HTML page: data and the graph library inlined."""
    root = resources.files("pgfselect")
    template = root.joinpath(GRAPH_TEMPLATE).read_text(encoding="utf-8")
    vis_js = root.joinpath(VIS_JS).read_text(encoding="utf-8")
    # "</" inside an inline script would end it early; "<\/" means the same to JavaScript.
    data = json.dumps(graph_data(analyses, threshold), allow_nan=False).replace("</", "<\\/")
    return template.replace("/*__DATA__*/null", data).replace("/*__VIS_NETWORK_JS__*/", vis_js)


# ------------------------------------------------------------------------- markdown
def _num(x: float) -> str:
    if not math.isfinite(x):
        return "n/a"
    return "0" if x == 0 else f"{x:+.3f}"


def _ci(lo: float, hi: float) -> str:
    return f"[{lo:+.3f}, {hi:+.3f}]" if math.isfinite(lo) and math.isfinite(hi) else "n/a"


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _scores_section(a: TransferAnalysis) -> str:
    labels = a.personas()
    rows = []
    for k, t in enumerate(a.tasks_):
        level, ls = task_group(t, "level")
        gran, gs = task_group(t, "granularity")
        cells = [t, level + ("" if ls else "*"), gran + ("" if gs else "*")]
        for view in VIEWS:
            for s in SIGNS:
                lo, hi = (b[k] for b in a.score_ci_[view][s])
                cells.append(f"{_num(a.scores_[view][s][k])} {_ci(lo, hi)}")
        cells.append(", ".join(p for p in PERSONAS if t in labels[p]) or "")
        rows.append(cells)
    head = ["task", "level", "granularity"] + [SYMBOLS[(v, s)] for v in VIEWS for s in SIGNS] + ["personas"]
    return _table(head, rows)


def _groups_section(a: TransferAnalysis) -> str:
    parts = []
    for grouping, groups in a.groups_.items():
        rows = []
        for group, entry in groups.items():
            cells = [group + ("" if entry["certain"] else "*"), ", ".join(alias(t) for t in entry["tasks"])]
            for view in VIEWS:
                for s in SIGNS:
                    rec = entry[view][s]
                    ci = rec["ci"] or [math.nan, math.nan]
                    cells.append(f"{_num(rec['value'])} {_ci(*ci)}")
            rows.append(cells)
        head = [grouping, "tasks"] + [SYMBOLS[(v, s)] for v in VIEWS for s in SIGNS]
        parts.append(f"By {grouping} (plain means over the group's tasks):\n\n" + _table(head, rows))
    return "\n\n".join(parts)


def _cliques_section(a: TransferAnalysis) -> str:
    rows = []
    for s in SIGNS:
        for c in a.cliques_[s]:
            rows.append([s, ", ".join(c.tasks), str(len(c.tasks)), _num(c.mean_pgf), _p(c.p_value),
                         str(c.n_values), "yes" if c.seeds_agree else "no"])
        if not a.cliques_[s]:
            rows.append([s, "none (no pair has the sign both ways)", "", "", "", "", ""])
    return _table(["sign", "tasks", "size", "mean PGF", "p (pooled Wilcoxon)", "values pooled",
                   "every seed agrees"], rows)


def _personas_section(a: TransferAnalysis) -> str:
    rows = []
    for label, evidence in a.personas_.items():
        view, sign, _ = PERSONAS[label]
        held = [e for e in evidence if e.assigned]
        text = "; ".join(f"{e.task} (score {e.score:.3f}, rank {e.rank}, p {_p(e.p_value)}, q {_p(e.q_value)})"
                         for e in sorted(held, key=lambda e: e.rank)) or "none"
        rows.append([label, f"|{SYMBOLS[(view, sign)]}|", text])
    top = a.settings()["persona_top_rank"]
    return (f"A label needs its score in the top {top} of {len(a.tasks_)} and a one-sided test of the "
            f"row's (column's) pooled values vs 0 with p < {a.alpha} (q: Benjamini-Hochberg over tasks, "
            "for reference).\n\n" + _table(["persona", "score", "tasks (evidence)"], rows))


def _comparison_section(analyses: Sequence[TransferAnalysis]) -> str:
    tasks = analyses[0].tasks_
    names = [label_of(a) for a in analyses]
    parts = []
    for view in VIEWS:
        rows = []
        for t in tasks:
            cells = [t]
            for a in analyses:
                k = a.tasks_.index(t)
                cells.append(" / ".join(_num(a.scores_[view][s][k]) for s in SIGNS))
            rows.append(cells)
        sym = f"{SYMBOLS[(view, 'positive')]} / {SYMBOLS[(view, 'negative')]}"
        parts.append(f"**{view.capitalize()}** ({sym}):\n\n" + _table(["task"] + names, rows))
    summary = persona_summary(analyses)
    rows = [[t] + [", ".join(p for p in PERSONAS if label_of(a) in labels.get(p, ())) for a in analyses]
            for t, labels in summary.items()]
    parts.append("**Personas** (tasks that hold a label in at least one matrix):\n\n"
                 + (_table(["task"] + names, rows) if rows else "none"))
    rows = [[label_of(a)] + [f"{len(a.cliques_[s][0].tasks) if a.cliques_[s] else 0} "
                             f"({len(a.cliques_[s])} tied)" for s in SIGNS] for a in analyses]
    parts.append("**Largest cliques** (size, number of tied maximum cliques):\n\n"
                 + _table(["matrix", "positive", "negative"], rows))
    return "\n\n".join(parts)


def markdown_report(analyses: Sequence[TransferAnalysis], files: dict[str, str]) -> str:
    """The report. ``files`` names the figures: 'bars', 'graph', and 'heatmaps' (a list, one per matrix)."""
    a0 = analyses[0]
    st = a0.settings()
    diag = ("included (N = all tasks)" if st["include_diagonal"]
            else f"excluded (N = {st['n_counted']} other tasks)")
    out = ["# PGF transfer analysis", "",
           "Matrices: " + ", ".join(f"`{label_of(a)}`" + (f" ({a.model_})" if a.model_ else "") for a in analyses),
           "",
           f"Settings: diagonal {diag}; clique edge rule: {st['clique_edge_rule']}; persona α = {st['alpha']}; "
           f"scores are computed on the seed-mean matrix (as in the paper), with {st['ci_level']:.0%} CIs from a "
           "leave-one-seed-out jackknife (Student-t). `*` marks a level or granularity that is our guess.",
           "", f"Interactive transfer graph: [{files['graph']}]({files['graph']}) (works offline).", "",
           f"![transferability and malleability]({files['bars']})", ""]
    if len(analyses) > 1:
        out += ["## Side by side", "", _comparison_section(analyses), ""]
    for a, heatmap in zip(analyses, files["heatmaps"]):
        out += [f"## {label_of(a)}", "",
                f"{len(a.tasks_)} tasks, {len(a.seeds_)} seeds ({', '.join(a.seeds_)}).", "",
                f"![seed-mean PGF heatmap]({heatmap})", "",
                "### Transferability (as source) and malleability (as target)", "",
                "Value on the seed-mean matrix, then its CI over seeds (jackknife).", "",
                _scores_section(a), "", "### By perceptual level and granularity", "", _groups_section(a), "",
                "### Cliques", "",
                "Maximum cliques (ties included); p: one-sided Wilcoxon signed-rank over all within-clique "
                "directed edges × seeds.", "", _cliques_section(a), "",
                "### Personas", "", _personas_section(a), ""]
    return "\n".join(out)


# ------------------------------------------------------------------------- everything
def render(analyses: Sequence[TransferAnalysis], graph_threshold: float | None = DEFAULT_GRAPH_THRESHOLD) -> dict[str, bytes]:
    """Every output file as ``{name: content}``: report.md, analysis.json, heatmap_<slug>.png per
    matrix, bars.png, transfer_graph.html. Nothing is written here."""
    files = {"bars": "bars.png", "graph": "transfer_graph.html",
             "heatmaps": [f"heatmap_{slug}.png" for slug in file_slugs(analyses)]}
    out = {name: heatmap_png(a) for a, name in zip(analyses, files["heatmaps"])}
    out["bars.png"] = bars_png(analyses)
    out["transfer_graph.html"] = transfer_graph_html(analyses, graph_threshold).encode("utf-8")
    out["analysis.json"] = (json.dumps(analyses_json(analyses), indent=2, allow_nan=False) + "\n").encode("utf-8")
    out["report.md"] = markdown_report(analyses, files).encode("utf-8")
    return out


def write_report(analyses: Sequence[TransferAnalysis], out_dir,
                 graph_threshold: float | None = DEFAULT_GRAPH_THRESHOLD) -> list[str]:
    """:func:`render` the files and write them into ``out_dir`` (created; each file atomically);
    returns their names."""
    files = render(analyses, graph_threshold=graph_threshold)
    out_dir = check_writable(out_dir, "out_dir")
    for name, content in files.items():
        atomic_write(out_dir / name, content)
    return list(files)
