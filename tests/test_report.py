"""Figures, the transfer-graph page, the markdown report and `pgfselect analyze`."""

import json
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

from pgfselect.analysis import analyze
from pgfselect.matrix import PGFMatrix
from pgfselect.report import alias, file_slugs, graph_data, render, transfer_graph_html

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = np.array([[[0.5, 0.2, -0.1], [0.3, 0.6, 0.05], [-0.2, -0.3, 0.4]],
                  [[0.4, 0.25, -0.15], [0.2, 0.5, -0.05], [-0.25, -0.2, 0.5]]])


def small(name="small", tasks=("Counting", "Jigsaw", "custom:Thing")):
    m = PGFMatrix.from_values(SMALL, list(tasks), list(tasks), seeds=["s0", "s1"], name=name)
    return analyze(m)


from clirun import run_cli


def graph_json(html: str) -> dict:
    text = re.search(r"const DATA = (.*?);\n", html).group(1)
    return json.loads(text.replace("<\\/", "</"))


# ------------------------------------------------------------------ library
def test_render_small_matrix_files():
    files = render([small()])
    assert set(files) == {"heatmap_small.png", "bars.png", "transfer_graph.html", "analysis.json", "report.md"}
    assert files["heatmap_small.png"].startswith(PNG) and len(files["heatmap_small.png"]) > 5000
    assert files["bars.png"].startswith(PNG) and len(files["bars.png"]) > 5000
    doc = json.loads(files["analysis.json"])
    assert set(doc) >= {"transferability", "malleability", "cliques", "personas", "evidence"}
    report = files["report.md"].decode()
    for needed in ("heatmap_small.png", "bars.png", "transfer_graph.html", "### Cliques", "### Personas",
                   "By level", "By granularity"):
        assert needed in report


def test_graph_page_is_self_contained_and_carries_the_numbers():
    a = small()
    html = transfer_graph_html([a], threshold=0.1)
    assert "vis-network" in html and "@version 9.1.2" in html  # the library is inlined
    assert not re.search(r"<(script|link)[^>]+(src|href)=", html)  # nothing fetched at view time
    assert "http://" not in html.split("/**", 1)[0]  # no remote address before the library's header
    data = graph_json(html)
    assert data["threshold"] == 0.1 and data["ci_level"] == 0.95
    model = data["models"][0]
    assert len(model["edges"]) == 6  # every ordered pair, no self-loops
    edge = next(e for e in model["edges"] if e["from"] == "Counting" and e["to"] == "Jigsaw")
    assert edge["mean"] == pytest.approx(0.225)
    assert edge["per_seed"] == pytest.approx([0.2, 0.25])
    assert edge["lo"] < 0.225 < edge["hi"]
    assert model["cliques"]["positive"][0]["tasks"] == ["Counting", "Jigsaw"]
    assert {t["id"]: t["level"] for t in model["tasks"]}["custom:Thing"] == "unknown"


def test_graph_data_escapes_script_end():
    a = small(name="</script><b>x", tasks=("A</script>", "B", "C"))
    html = transfer_graph_html([a])
    assert html.count("</script>") == 2  # the library's tag and the page's own, none from the data
    assert graph_data([a])["models"][0]["tasks"][0]["id"] == "A</script>"


def test_aliases_and_slugs():
    assert alias("Multi-view_Reasoning") == "MV"
    assert alias("synthetic:Counting") == "syn:CT"
    assert alias("my_task") == "my_task"
    a, b = small("runs/a:b"), small("runs/a:b")
    assert file_slugs([a, b]) == ["runs-a-b", "runs-a-b-2"]


# ------------------------------------------------------------------ command line
def test_cli_two_published_matrices(tmp_path, capsys):
    out = tmp_path / "scale"
    code, stdout, _ = run_cli(["analyze", "--matrix", "published:qwen2.5-vl-3b", "--matrix",
                               "published:qwen2.5-vl-32b", "--out", str(out), "--format", "json", "-q"], capsys)
    assert code == 0
    doc = json.loads(stdout)
    assert list(doc) == ["published:qwen2.5-vl-3b", "published:qwen2.5-vl-32b"]
    assert json.loads((out / "analysis.json").read_text()) == doc
    names = {"report.md", "analysis.json", "bars.png", "transfer_graph.html",
             "heatmap_published-qwen2.5-vl-3b.png", "heatmap_published-qwen2.5-vl-32b.png"}
    assert {p.name for p in out.iterdir()} == names
    assert all((out / n).stat().st_size > 1000 for n in names)
    report = (out / "report.md").read_text()
    assert "## Side by side" in report and "## published:qwen2.5-vl-32b" in report
    assert len(graph_json((out / "transfer_graph.html").read_text())["models"]) == 2


def test_cli_table_output_and_flags(tmp_path, capsys):
    m = PGFMatrix.from_values(SMALL, ["A", "B", "C"], ["A", "B", "C"])
    path = tmp_path / "m.json"
    m.to_json(path)
    code, stdout, err = run_cli(["analyze", "--matrix", str(path), "--out", str(tmp_path / "o"),
                                 "--include-diagonal", "--strict-cliques", "--alpha", "0.1"], capsys)
    assert code == 0, err
    assert "Δ+" in stdout and "wrote" in err
    settings = json.loads((tmp_path / "o" / "analysis.json").read_text())["evidence"]["settings"]
    assert settings["include_diagonal"] is True and settings["n_counted"] == 3
    assert settings["strict_cliques"] is True and settings["alpha"] == 0.1


def _tidy_csv(path, tasks, drop=()):
    rows = ["seed,source,target,pgf"]
    for s in ("s0", "s1"):
        for i, src in enumerate(tasks):
            for j, tgt in enumerate(tasks):
                if (s, src, tgt) not in drop:
                    rows.append(f"{s},{src},{tgt},{0.1 * (i - j)}")
    path.write_text("\n".join(rows) + "\n")
    return str(path)


@pytest.mark.parametrize("case,message", [
    ("two_tasks", "at least 3"),
    ("missing_seed_cell", "unmeasured cell"),
    ("mismatched", "different tasks"),
    ("duplicate", "more than once"),
    ("out_is_file", "not a folder"),
    ("out_under_file", "not writable"),
    ("unknown_published", "unknown built-in matrix"),
])
def test_cli_bad_input_exits_2_and_writes_nothing(case, message, tmp_path, capsys):
    abc = _tidy_csv(tmp_path / "abc.csv", ["A", "B", "C"])
    out = tmp_path / "out"
    args = {
        "two_tasks": ["--matrix", _tidy_csv(tmp_path / "ab.csv", ["A", "B"])],
        "missing_seed_cell": ["--matrix", _tidy_csv(tmp_path / "m.csv", ["A", "B", "C"], drop={("s1", "A", "C")})],
        "mismatched": ["--matrix", abc, "--matrix", _tidy_csv(tmp_path / "abd.csv", ["A", "B", "D"])],
        "duplicate": ["--matrix", abc, "--matrix", abc],
        "out_is_file": ["--matrix", abc],
        "out_under_file": ["--matrix", abc],
        "unknown_published": ["--matrix", "published:qwen9"],
    }[case]
    if case == "out_is_file":
        out.write_text("x")
    if case == "out_under_file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "sub"
    code, stdout, err = run_cli(["analyze", *args, "--out", str(out)], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]  # progress lines come first
    assert last.startswith("error: ") and message in last
    if case != "out_is_file":
        assert not out.exists()


def test_cli_help_has_example(capsys):
    code, stdout, _ = run_cli(["analyze", "--help"], capsys)
    assert code == 0 and "Example:" in stdout and "--strict-cliques" in stdout


# ------------------------------------------------------------------ the page in a real browser
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--virtual-time-budget=3000"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_graph_page_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "graph.html"
    page.write_text(transfer_graph_html([small()]))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                              f"{page.as_uri()}#threshold=0&clique=positive:0"],
                             capture_output=True, text=True, timeout=60).stdout
    # The status line is written by the page's script after vis-network drew the graph.
    assert re.search(r'id="status">\d+ of 6 edges shown<', dom), dom[-2000:]
    assert "<canvas" in dom


# ------------------------------------------------------------------ figures a reader understands
def _figure_of(monkeypatch, draw):
    """Run a report figure function and return its matplotlib figure instead of PNG bytes."""
    import pgfselect.report as report

    figs = []
    monkeypatch.setattr(report, "_png", lambda fig: figs.append(fig) or b"")
    draw()
    return figs[0]


def test_heatmap_and_bars_name_the_tasks_in_full(monkeypatch):
    import matplotlib.pyplot as plt

    from pgfselect.report import bars_png, heatmap_png

    a = small(tasks=("Counting", "synthetic:Relative_Depth", "custom:Thing"))
    full = ["Counting (CT)", "synthetic:Relative_Depth (RD)", "custom:Thing"]
    fig = _figure_of(monkeypatch, lambda: heatmap_png(a))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == full
    assert [t.get_text() for t in ax.get_yticklabels()] == full
    plt.close(fig)
    fig = _figure_of(monkeypatch, lambda: bars_png([a, small("other", tasks=a.tasks_)]))
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == full
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert not any(legend.overlaps(ax.get_window_extent()) for ax in fig.axes)  # beside the bars
    plt.close(fig)


def test_graph_opens_on_the_strongest_edges():
    from pgfselect.matrix import load
    from pgfselect.report import DEFAULT_TOP_EDGES

    a = analyze(load("published:qwen2.5-vl-7b"))
    data = graph_data([a])
    edges = data["models"][0]["edges"]
    shown = [e for e in edges if abs(e["mean"]) >= data["threshold"]]
    strongest = sorted(edges, key=lambda e: -abs(e["mean"]))[:DEFAULT_TOP_EDGES]
    assert len(edges) == 156 and len(shown) == DEFAULT_TOP_EDGES  # no ties in this matrix
    assert {(e["from"], e["to"]) for e in shown} == {(e["from"], e["to"]) for e in strongest}
    assert data["top_edges"] == DEFAULT_TOP_EDGES
    assert graph_data([a], threshold=0.1)["threshold"] == 0.1 and graph_data([a], threshold=0.1)["top_edges"] is None


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (apt-get install chromium)")
def test_graph_page_opens_on_the_strongest_edges_in_chromium(tmp_path):
    from pgfselect.matrix import load

    page = tmp_path / "graph.html"
    page.write_text(transfer_graph_html([analyze(load("published:qwen2.5-vl-7b"))]))
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                             capture_output=True, text=True, timeout=60).stdout
    assert re.search(r'id="status">12 of 156 edges shown \(the strongest', dom), dom[-2000:]
