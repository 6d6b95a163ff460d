"""The proxies on a real tiny measure folder: the ensemble mixes the recorded option
probabilities and reproduces a cell exactly when all weight is on one source; the merge proxy
loads the folder's base and adapters and reproduces a cell's recorded predictions when all weight
is on one source; the CLI refuses bad input on one line.

One tiny grid (3 synthetic tasks, 2 seeds, LoRA for a few steps, 24 evaluation items) is measured
once per module; its settings make the cells move the predictions item by item (not one letter
for every item), so the mixes below are not trivially equal to a cell.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from clirun import measured_folder, run_cli
from pgfselect.errors import PGFSelectError
from pgfselect.matrix import load
from pgfselect.proxy import ProxyResponse, ensemble_proxy, merge_proxy, parse_mix

pytestmark = pytest.mark.slow  # trains a tiny grid first (about 30 s on a busy 2-core machine)

TASKS = ["synthetic:Counting", "synthetic:Relative_Depth", "synthetic:Spatial_Relation"]
TINY = {
    "model": {"path": "tiny:t64", "cpu_threads": 1, "initializer_range": 0.1,
              "warmup": {"steps": 60, "examples_per_task": 32, "batch_size": 8}},
    "task_options": {"synthetic": {"difficulty": 0.0, "skill_cues": 0.6}},
    "tasks": TASKS,
    "seeds": [0, 1],
    "training": {"method": "lora", "rank": 4, "alpha": 8, "learning_rate": 0.02, "max_steps": 8,
                 "batch_size": 4, "examples_per_task": 32, "train_vision": True},
    "evaluation": {"n_items": 24, "batch_size": 24},
}
CT, RD, SR = TASKS


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    yield from measured_folder(tmp_path_factory, TINY, "proxy")


def recorded(out, seed: str, source: str, target: str) -> list[dict]:
    """The cell's rows of predictions.csv (item order), with p parsed."""
    with open(out / "predictions.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r["seed"], r["source"], r["target"]) == (seed, source, target)]
    for r in rows:
        r["p"] = [float(x) for x in r["p"].split(";")]
    return rows


def cell_predictions(out, seed: str, source: str, target: str) -> list[dict]:
    """The cell's own record (cells/<hash>/seed_K/<source>.json), as scoring wrote it."""
    path = next(out.glob(f"cells/*/{seed}/{source.replace(':', '__')}.json"))
    return json.loads(path.read_text())["results"][target]["predictions"]


# ------------------------------------------------------------------ what measure keeps
def test_measure_keeps_probabilities_and_adapters_for_every_cell(folder):
    with open(folder / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 24 * 3 * (1 + 3 * 2)  # base + 3 sources x 2 seeds, each on 3 tasks x 24 items
    for r in rows:
        p = [float(x) for x in r["p"].split(";")]
        assert len(p) == (4 if r["target"] == CT else 2) and abs(sum(p) - 1) < 1e-3
        assert p[int(r["pred"])] == max(p)  # rounding keeps the order (ties aside)
    for cell in folder.glob("cells/*/seed_*/*.json"):
        adapter = folder / json.loads(cell.read_text())["adapter_dir"]
        assert (adapter / "adapter_config.json").is_file() and (adapter / "adapter_model.safetensors").is_file()


# ------------------------------------------------------------------ ensemble
def test_ensemble_with_all_weight_on_one_source_is_that_cell(folder):
    m = load(folder)
    for i, source in enumerate(TASKS):
        for j, target in enumerate(TASKS):
            res = ensemble_proxy(folder, {source: 1.0}, target)
            assert res.seeds == ["seed_0", "seed_1"]
            assert res.correct == [int(c) for c in m.correct_ft[:, i, j]]
            assert res.pgf == [float(v) for v in m.values[:, i, j]]  # exactly: same counts, same formula
            for seed in res.seeds:  # and item by item: the cell's own answers
                assert [p["pred"] for p in res.predictions[seed]] == \
                       [int(r["pred"]) for r in recorded(folder, seed, source, target)]
    # A share of 0 changes nothing; shares are normalised.
    same = ensemble_proxy(folder, {"RD": 3, "spatial relation": 0}, "counting")
    assert same.mix == {RD: 1.0} and same.pgf == [float(v) for v in m.values[:, 1, 0]]


def test_half_and_half_ensemble_is_the_mean_of_the_two_cells(folder):
    res = ensemble_proxy(folder, {RD: 0.5, SR: 0.5}, CT)
    assert res.mix == {RD: 0.5, SR: 0.5}
    moved = 0
    for seed, items in res.predictions.items():
        a, b = recorded(folder, seed, RD, CT), recorded(folder, seed, SR, CT)
        assert [it["id"] for it in items] == [r["item_id"] for r in a] == [r["item_id"] for r in b]
        for it, ra, rb in zip(items, a, b):
            mean = (np.asarray(ra["p"]) + np.asarray(rb["p"])) / 2
            np.testing.assert_allclose(it["p"], mean, rtol=0, atol=1e-12)
            assert it["p"][it["pred"]] == pytest.approx(mean.max(), abs=1e-12)
            assert it["correct"] == int(it["pred"] == int(ra["answer"]))
            moved += len({it["pred"], int(ra["pred"]), int(rb["pred"])}) > 1
        assert res.correct[res.seeds.index(seed)] == sum(it["correct"] for it in items)
    assert moved > 0, "the two cells agree on every item: the test data cannot tell a mean from a copy"
    m = load(folder)
    pgf = (np.asarray(res.correct) - m.correct_base[:, 0]) / (m.n_eval[:, 0] - m.correct_base[:, 0])
    assert res.pgf == pytest.approx(pgf.tolist(), abs=1e-15)
    assert res.mean == pytest.approx(np.mean(pgf)) and res.ci[0] <= res.mean <= res.ci[1]
    assert res.blend == pytest.approx(np.mean(0.5 * m.values[:, 1, 0] + 0.5 * m.values[:, 2, 0]))


def test_ensemble_runs_without_torch(folder):
    probe = ("import sys\nfrom pgfselect.cli import main\n"
             f"try:\n    main(['proxy', {str(folder)!r}, '--mix', 'RD=1,SR=1', '-t', 'CT', '--format', 'json'])\n"
             "except SystemExit as e:\n    assert not e.code, e.code\n"
             "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
             "print('HEAVY', heavy, file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "ensemble" and "HEAVY []" in r.stderr


def test_a_folder_measured_before_probabilities_were_kept_is_refused(folder, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(folder / "matrix.csv", old)
    with open(folder / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    with open(old / "predictions.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[c for c in rows[0] if c != "p"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(PGFSelectError, match="no option probabilities.*rerun `pgfselect measure"):
        ensemble_proxy(old, {RD: 1}, CT)


# ------------------------------------------------------------------ merge
def test_merge_with_all_weight_on_one_source_reproduces_the_cell(folder):
    m = load(folder)
    res = merge_proxy(folder, {SR: 1.0}, CT)
    assert res.kind == "merge" and res.seeds == ["seed_0", "seed_1"] and res.options == {"combination": "cat"}
    for s, seed in enumerate(res.seeds):
        ref = cell_predictions(folder, seed, SR, CT)
        got = res.predictions[seed]
        assert [g["id"] for g in got] == [r["id"] for r in ref]
        np.testing.assert_allclose([g["p"] for g in got], [r["p"] for r in ref], rtol=0, atol=1e-4)
        assert [g["pred"] for g in got] == [r["pred"] for r in ref]
        assert res.correct[s] == m.correct_ft[s, 2, 0] and res.pgf[s] == m.values[s, 2, 0]


def test_merge_of_two_sources_gives_a_pgf_per_seed(folder):
    for combination, density in (("linear", None), ("cat", None), ("dare_linear", 0.5)):
        res = merge_proxy(folder, {RD: 0.7, SR: 0.3}, CT, combination=combination, density=density)
        assert len(res.pgf) == 2 and all(np.isfinite(v) and v <= 1 for v in res.pgf)
        assert res.accuracy == [c / 24 for c in res.correct] and res.mix == {RD: 0.7, SR: 0.3}
        assert res.options["combination"] == combination
    again = merge_proxy(folder, {RD: 0.7, SR: 0.3}, CT, combination="dare_linear", density=0.5)
    assert again.predictions == res.predictions  # dare's random drop is seeded


def test_merge_of_a_full_finetune_folder_refuses_pruning_and_lora_cells(folder, monkeypatch):
    """A folder whose config says training.method full merges whole models (tests/test_proxy_full.py):
    the pruning combinations do not apply, and a cell that kept only a LoRA adapter is no whole model."""
    from pgfselect.measure import engine
    from pgfselect.proxy import merge

    def as_full(out, config_hash=None):
        cfg = engine.folder_config(out, config_hash)
        return cfg.model_copy(update={"training": cfg.training.model_copy(update={"method": "full"})})

    monkeypatch.setattr(merge, "folder_config", as_full)
    with pytest.raises(PGFSelectError, match=r"training.method full.*combination ties prunes LoRA adapters"):
        merge_proxy(folder, {RD: 1}, CT, combination="ties", density=0.5)
    with pytest.raises(PGFSelectError, match=r"finetuned model of .* not found at"):
        merge_proxy(folder, {RD: 1}, CT)


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize("args, says", [
    (["--mix", "nosuch=1", "-t", "CT"], "unknown source 'nosuch'"),
    (["--mix", "RD=-0.5,SR=1", "-t", "CT"], "share of synthetic:Relative_Depth must be a finite number ≥ 0, "
                                             "got -0.5"),
    (["--mix", "RD=0,SR=0", "-t", "CT"], "shares sum to 0"),
    (["--mix", "RD=half", "-t", "CT"], "share 'half' of RD is not a number"),
    (["--mix", "RD", "-t", "CT"], "must be SOURCE=SHARE"),
    (["--mix", "RD=1", "-t", "nosuch"], "unknown target 'nosuch'"),
    (["--mix", "RD=1", "-t", "CT", "--kind", "nope"], "'nope' is not one of 'ensemble', 'merge'"),
    (["--mix", "RD=1", "-t", "CT", "--kind", "merge", "--combination", "ties"], "needs --density D with D in (0, 1]"),
    (["--mix", "RD=1", "-t", "CT", "--kind", "merge", "--density", "0.5"], "--density applies to combination ties and dare_linear"),
    (["--mix", "RD=1", "-t", "CT", "--density", "0.5"], "--density applies to --kind merge only"),
])
def test_cli_refuses_bad_input_on_one_line(folder, capsys, args, says):
    code, out, err = run_cli(["proxy", str(folder), *args], capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and says in err


def test_cli_refuses_a_folder_that_is_not_a_measure_folder(tmp_path, capsys):
    code, _, err = run_cli(["proxy", str(tmp_path), "--mix", "RD=1", "-t", "CT"], capsys)
    assert code == 2 and "is not a measure folder" in err and err.count("\n") == 1


def test_cli_json_output(folder, capsys):
    code, out, err = run_cli(["proxy", str(folder), "--mix", "RD=1", "--mix", "SR=3", "-t", "CT",
                              "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["kind"] == "ensemble" and doc["target"] == CT and doc["mix"] == {RD: 0.25, SR: 0.75}
    assert doc["seeds"] == ["seed_0", "seed_1"] and len(doc["pgf"]) == len(doc["accuracy"]) == 2
    assert {"mean", "ci", "blend", "correct", "n_eval", "base_accuracy", "note"} <= set(doc)
    assert "predictions" not in doc
    code, out, _ = run_cli(["proxy", str(folder), "--mix", "RD=1", "-t", "CT", "--format", "json", "--predictions"],
                           capsys)
    assert code == 0 and len(json.loads(out)["predictions"]["seed_0"]) == 24
    code, out, _ = run_cli(["proxy", str(folder), "--mix", "RD=1,SR=1", "-t", "CT"], capsys)
    assert code == 0 and "ensemble proxy for synthetic:Counting" in out and "verify with `pgfselect train`" in out


def test_the_help_examples_run_on_a_measured_folder(folder, capsys):
    import click

    from pgfselect.cli.proxy import proxy

    text = proxy.get_help(click.Context(proxy, info_name="pgfselect proxy")).split("Example:", 1)[1]
    examples = [line.strip().split()[2:] for line in text.splitlines() if line.strip().startswith("pgfselect proxy")]
    assert len(examples) == 3
    for args in examples:
        code, out, err = run_cli(["proxy", *[str(folder) if a == "runs/tiny" else a for a in args]], capsys)
        assert code == 0, f"{args}: {err}"
    from pgfselect.cli.plan import plan

    text = plan.get_help(click.Context(plan, info_name="pgfselect plan")).split("Example:", 1)[1]
    (line,) = [line.strip() for line in text.splitlines() if "--mixture-model proxy:" in line]
    code, out, err = run_cli([str(folder) if a == "runs/tiny" else a for a in line.split()[1:]], capsys)
    assert code == 0 and "Counting" in out, err


def test_parse_mix():
    assert parse_mix("CT=0.7, RD=0.3") == {"CT": 0.7, "RD": 0.3}
    assert parse_mix(["CT=1", "RD=2,SR=0"]) == {"CT": 1.0, "RD": 2.0, "SR": 0.0}
    with pytest.raises(PGFSelectError, match="names 'CT' twice"):
        parse_mix("CT=1,CT=2")


# ------------------------------------------------------------------ the proxy as the planner's response
def onehot(r, *names, share=None):
    w = np.array([float(s in names) for s in r.sources_])
    return w / w.sum()


def test_proxy_response_reads_the_numbers_of_the_proxy(folder):
    r = ProxyResponse(folder, "CT").fit()
    assert r.target_ == CT and r.seeds_ == ["seed_0", "seed_1"] and r.name == "proxy:ensemble"
    for src in (RD, SR, CT):
        assert r.pgf_per_seed(onehot(r, src)).tolist() == pytest.approx(ensemble_proxy(folder, {src: 1}, CT).pgf,
                                                                         abs=1e-12)
    both = ensemble_proxy(folder, {RD: 1, SR: 1}, CT)
    assert r.predict(onehot(r, RD, SR))[0] == pytest.approx(both.mean, abs=1e-12)


def test_proxy_search_is_never_worse_than_its_starts_and_keeps_caps_and_fixed_shares(folder):
    r = ProxyResponse(folder, CT, n_candidates=64).fit()
    caps = np.array([0.0 if s == CT else 1.0 for s in r.sources_])  # the target's own row is not a candidate
    w = r.best_shares(caps)
    assert w.sum() == pytest.approx(1) and (w <= caps + 1e-9).all()
    assert r.value(w) >= max(r.value(onehot(r, s)) for s in (RD, SR)) - 1e-12
    assert r.value(w) >= r.value(onehot(r, RD, SR)) - 1e-12
    i_rd = r.sources_.index(RD)
    capped = caps.copy()
    capped[i_rd] = 0.3
    assert r.best_shares(capped)[i_rd] <= 0.3 + 1e-9
    fixed = r.best_shares(caps, fixed={i_rd: 0.25})
    assert fixed[i_rd] == pytest.approx(0.25) and fixed.sum() == pytest.approx(1)
    with pytest.raises(PGFSelectError, match="kind 'nope' is not a proxy"):
        ProxyResponse(folder, CT, kind="nope").fit()


def test_plan_on_the_ensemble_proxy(folder, capsys):
    code, out, err = run_cli(["plan", "-m", str(folder), "-t", "CT", "-b", "100", "--mixture-model",
                              "proxy:ensemble", "--format", "json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    r = ProxyResponse(folder, CT).fit()
    if doc["status"] == "no_helpful_source":  # the proxy's best mix does not beat zero-shot
        assert doc["allocation"] == {}
        assert r.value(r.best_shares([0.0 if s == CT else 1.0 for s in r.sources_])) <= 0
        return
    assert doc["objective"] == "proxy:ensemble" and doc["solver"] == "proxy-search"
    assert sum(doc["allocation"].values()) == 100 and CT not in doc["allocation"]
    # the plan's expected PGF is the proxy of the allocation it wrote (after rounding)
    mix = {s: n / 100 for s, n in doc["allocation"].items()}
    assert doc["expected"]["pgf"] == pytest.approx(ensemble_proxy(folder, mix, CT).mean, abs=1e-4)
    assert "ensemble proxy" in doc["expected"]["assumptions"]


@pytest.mark.parametrize("args, says", [
    (["--mixture-model", "proxy:nope"], "--mixture-model 'proxy:nope': unknown proxy; allowed: proxy:ensemble"),
    (["-t", "RD", "--mixture-model", "proxy:ensemble"], "plans one target; got 2"),
])
def test_plan_refuses_a_bad_proxy_request(folder, capsys, args, says):
    code, out, err = run_cli(["plan", "-m", str(folder), "-t", "CT", "-b", "100", *args], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err


def test_plan_refuses_a_proxy_of_a_matrix_that_is_not_a_measure_folder(capsys):
    code, _, err = run_cli(["plan", "-t", "CT", "-b", "100", "--mixture-model", "proxy:ensemble"], capsys)
    assert code == 2 and err.startswith("error: --matrix 'published:qwen2.5-vl-7b' is not a measure folder"), err
