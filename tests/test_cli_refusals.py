"""What used to be accepted silently is refused with one line naming the value and what is
allowed; Click's usage errors are one `error:` line too; clearer messages (issue #20, items 4-5)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from clirun import run_cli as run
from pgfselect.matrix import PGFMatrix

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
PLAN = ["plan", "-t", "counting", "-b", "2k"]


def one_error_line(code, err):
    return code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, message", [
    (PLAN + ["--solver", "NOPE"], "--solver 'NOPE' is not an installed cvxpy solver; installed: "),
    (PLAN + ["--fix", "Jigsaw=100", "--fix", "Jigsaw=200"], "--fix gives 'Jigsaw' more than once"),
    (PLAN + ["--fix", "Jigsaw=100", "--fix", "jigsaw=200"], "fix gives source Jigsaw more than once"),
    (PLAN + ["--available", "Jigsaw=100", "--available", "Jigsaw=200"], "--available gives 'Jigsaw' more than once"),
    (["plan", "-t", "counting", "-t", "counting", "-b", "2k"], "--target gives 'counting' more than once"),
    (["plan", "-t", "counting=0.7", "-t", "jigsaw", "-b", "2k"], "--target 'jigsaw' has no weight while"),
    (PLAN + ["--format", "xml"], "'xml' is not one of 'table', 'json'"),
    (PLAN + ["-s", "top_k", "--k", "99"], "--k 99 is more than the 12 candidate sources"),
    (PLAN + ["-s", "random", "--k", "13"], "--k 13 is more than the 12 candidate sources"),
    (PLAN + ["--k", "2"], "--k 2: strategy pgf does not use it; --k applies only to --strategy top_k and random"),
    (PLAN + ["--include", "Counting"], "Counting: target's own data (allow: --target-examples N)"),
    (PLAN + ["--exclude", "Jigsaw", "--include", "Jigsaw"], "source Jigsaw is both excluded and included"),
    (PLAN + ["--exclude", "Jigsaw", "--fix", "Jigsaw=10"], "source Jigsaw is both excluded and fixed"),
    (["plan", "-t", "counting", "-b", "-5"], "budget '-5' must be at least 1 example"),
    (PLAN + ["-s", "random", "--seed", "-1"], "--seed -1 must be a whole number ≥ 0"),
    (PLAN + ["--kappa", "-1"], "--kappa -1.0 must be a finite number ≥ 0"),
    (["plan", "-b", "2k"], "Missing option '--target'"),
    (["plan", "-t", "counting", "-b", "2k", "--nosuch"], "No such option"),
    (["nosuch"], "No such command 'nosuch'"),
    (["train", str(RECIPES / "verify-tiny.yaml"), "--validate", "--only", "nosuch"], "--only: unknown strategy 'nosuch'"),
    (["train", str(RECIPES / "verify-tiny.yaml"), "--validate", "--only", "top_k"], "--only top_k: not a strategy of this recipe"),
])
def test_refused_with_one_error_line(args, message, capsys):
    code, out, err = run(args, capsys)
    assert one_error_line(code, err), err
    assert message in err, err
    assert out == ""


def test_kappa_named_only_when_it_decides_that_nothing_helps(capsys):
    args = PLAN + ["--include", "Jigsaw,Art_Style", "--format", "json"]
    for extra in ([], ["--kappa", "2"]):  # the best mean is negative: no κ makes it help
        code, out, _ = run(args + extra, capsys)
        rec = json.loads(out)["recommendation"]
        assert code == 0 and json.loads(out)["status"] == "no_helpful_source" and "κ" not in rec["reason"]


def test_target_examples_needs_the_target_row(tmp_path, capsys):
    names = ["A", "B", "T"]
    m = PGFMatrix.from_values(np.full((2, 2, 3), 0.2), ["A", "B"], names)
    path = tmp_path / "m.json"
    m.to_json(path)
    code, _, err = run(["plan", "-t", "T", "-b", "100", "-m", str(path), "--target-examples", "50"], capsys)
    assert one_error_line(code, err) and "has no row for the target T" in err
    code, _, err = run(["plan", "-t", "T", "-b", "100", "-m", str(path)], capsys)
    assert code == 0, err


def test_target_with_a_row_but_no_column(tmp_path, capsys):
    m = PGFMatrix.from_values(np.full((2, 3, 2), 0.2), ["A", "B", "T"], ["A", "B"])
    path = tmp_path / "m.json"
    m.to_json(path)
    code, _, err = run(["plan", "-t", "T", "-b", "100", "-m", str(path)], capsys)
    assert one_error_line(code, err) and "has T as a source but no column for it" in err


def test_train_validate_only_filters_the_runs(capsys):
    code, out, err = run(["train", str(RECIPES / "verify-tiny.yaml"), "--validate", "--only", "direct",
                          "--format", "json"], capsys)
    assert code == 0, err
    assert {r["strategy"] for r in json.loads(out)["runs"]} == {"direct"}


def test_prefixed_alias_on_a_measured_matrix(tmp_path, capsys):
    names = ["synthetic:Counting", "synthetic:Object_Localization", "synthetic:Jigsaw", "synthetic:Relative_Depth"]
    vals = np.full((2, 4, 4), 0.1)
    vals[:, 0, 1] = [0.4, 0.5]
    path = tmp_path / "m.json"
    PGFMatrix.from_values(vals, names, names).to_json(path)
    for spelling in ("synthetic:OL", "OL", "synthetic:object localization", "SYNTHETIC:ol"):
        code, out, err = run(["plan", "-t", spelling, "-b", "500", "-m", str(path), "--format", "json"], capsys)
        assert code == 0, (spelling, err)
        assert json.loads(out)["target"] == "synthetic:Object_Localization"
    code, _, err = run(["plan", "-t", "synthetic:OL", "-b", "500", "-m", str(path), "--exclude", "synthetic:CT",
                        "--format", "json"], capsys)
    assert code == 0, err


def test_saturation_advice_is_accepted_by_plan_and_matches_json(tmp_path, capsys):
    from pgfselect.plan.saturation import fit_saturation

    names = ["A", "B", "C", "D"]
    large = np.random.default_rng(0).uniform(0.3, 0.8, (2, 4, 4))
    prov = lambda n: {"examples_per_task": str(n)}  # noqa: E731
    small = PGFMatrix.from_values(large.copy(), names, names, model="m", provenance=prov(500))  # no gain from more
    big = PGFMatrix.from_values(large, names, names, model="m", provenance=prov(2000))
    fit = fit_saturation(small, big)
    assert fit.bound == "at most"
    small.to_json(tmp_path / "small.json")
    big.to_json(tmp_path / "large.json")
    code, table, err = run(["saturation", str(tmp_path / "small.json"), str(tmp_path / "large.json")], capsys)
    assert code == 0, err
    code, out, _ = run(["saturation", str(tmp_path / "small.json"), str(tmp_path / "large.json"), "--format", "json"],
                       capsys)
    s = json.loads(out)["saturation"]
    advised = table.split("--saturation ")[1].split()[0]
    assert float(advised) == s > 0 and f"at most {advised} examples" in table
    assert "[95% CI 0," not in table
    code, _, err = run(PLAN + ["--saturation", advised], capsys)
    assert code == 0, err


def test_compare_task_message_is_readable(tmp_path, capsys):
    from test_compare import write_run

    r = tmp_path / "R"
    write_run(r, "zero_shot", None, 40)
    write_run(r, "pgf", 0, 50)
    code, _, err = run(["compare", str(r), "--no-plot", "--task", "nosuch"], capsys)
    assert one_error_line(code, err), err
    assert "lacks a valid" not in err and "--task 'nosuch': unknown evaluated task 'nosuch'" in err


def test_one_seed_matrix_texts(tmp_path, capsys):
    m = tmp_path / "two.txt"
    m.write_text("seed,ft_task,task,perfection_gap_factor\n0,Counting,Counting,0.1\n0,Jigsaw,Counting,0.2\n")
    code, out, err = run(["matrices", "show", str(m)], capsys)
    assert code == 0, err
    assert "1 seed," in out and "1 seeds" not in out and "()" not in out
    code, out, err = run(["plan", "-t", "CT", "-b", "1", "-m", str(m)], capsys)
    assert code == 0, err
    assert "budget 1 example " in out and "range " in out and "--" not in out.split("range ")[1].split("(")[0]


def test_power_warning_says_what_more_seeds_would_do():
    from pgfselect.compare import _check

    w = _check("direct", 0.01, 0.05, 3)["warning"]
    assert "3 seeds" in w and w.endswith("would detect it")


def test_measure_dry_run_lists_the_cells(tmp_path, capsys):
    code, out, err = run(["measure", str(RECIPES / "measure-tiny.yaml"), "--dry-run", "--out", str(tmp_path / "m")],
                         capsys)
    assert code == 0, err
    assert "4 cells" in out and "  synthetic:Counting (seed 0)" in out and "zero-shot base" in out
    code, out, err = run(["measure", str(RECIPES / "measure-tiny.yaml"), "--dry-run", "--out", str(tmp_path / "m"),
                          "--adaptive", "--target", "counting", "--max-finetunes", "1", "--prior",
                          "published:qwen2.5-vl-3b"], capsys)
    assert code == 0, err
    assert "1 cell in the first round" in out and "at most 1 source × 1 seed = 1 finetune more" in out
    assert not (tmp_path / "m").exists()


def test_offline_blink_fails_fast_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PGFSELECT_BLINK_DIR", "HF_HUB_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"), PYTHONPATH=str(ROOT))
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pgfselect", "tasks", "preview", "blink:Counting", "--out",
                           str(tmp_path / "b.png")], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - start
    assert proc.returncode == 2, proc.stderr
    assert elapsed < 10, elapsed
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[-1].startswith("error: ") and "no access to the hub" in lines[-1], proc.stderr
    assert "--blink-dir" in lines[-1] and not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("args", [[], ["tasks"], ["matrices"]])
def test_a_group_alone_shows_its_help(args, capsys):
    code, out, err = run(args, capsys)
    assert code == 0 and out.startswith("Usage: pgfselect") and "Example" in out and err == ""


def test_hub_is_probed_once_per_process(monkeypatch):
    import socket

    from pgfselect.tasks import blink

    calls = []

    def refuse(addr, timeout=None):
        calls.append((addr, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(blink, "_HUB_STATE", {})
    monkeypatch.setattr(socket, "create_connection", refuse)
    for name in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    assert blink.hub_unreachable() == "hub.invalid:443: Connection refused"
    assert blink.hub_unreachable() == "hub.invalid:443: Connection refused"
    assert calls == [(("hub.invalid", 443), 3.0)]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "https://other.invalid")
    assert blink.hub_unreachable() == "HF_HUB_OFFLINE is set" and len(calls) == 1
