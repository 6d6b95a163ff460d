"""`pgfselect plan` and `pgfselect matrices` from the command line: output, exit codes, no partial files."""

import json

import pytest
import yaml



from clirun import run_cli as run


def test_plan_json_keys(capsys):
    code, out, _ = run(["plan", "--target", "counting", "--budget", "2k", "--format", "json"], capsys)
    assert code == 0
    d = json.loads(out)
    assert d["target"] == "Counting" and d["budget"] == 2000 and d["matrix"] == "published:qwen2.5-vl-7b"
    assert d["strategy"] == "pgf" and "optimal" in d["status"] and d["solver"]
    assert sum(d["allocation"].values()) == 2000 and all(isinstance(v, int) for v in d["allocation"].values())
    assert set(d["allocation"]).isdisjoint(d["excluded"])
    assert isinstance(d["expected"], dict)


def test_plan_table_and_plan_file(tmp_path, capsys):
    out_file = tmp_path / "sub" / "plan.yaml"
    code, out, _ = run(["plan", "-t", "OL", "-b", "1.5k", "--available", "Spatial_Relation=200",
                        "--exclude", "Jigsaw", "--out", str(out_file)], capsys)
    assert code == 0
    assert "Object_Localization" in out and "optimal" in out and "listed in exclude" in out
    plan = yaml.safe_load(out_file.read_text())
    assert plan["budget"] == 1500 and plan["allocation"].get("Spatial_Relation", 0) <= 200


def test_multi_target_and_strategies(capsys):
    code, out, _ = run(["plan", "-t", "counting=0.7", "-t", "jigsaw=0.3", "-b", "2k", "--format", "json"], capsys)
    assert code == 0 and json.loads(out)["targets"] == {"Counting": 0.7, "Jigsaw": 0.3}
    for strategy in ("paper", "top-k", "uniform", "random-k", "best-single", "target-only"):
        code, out, err = run(["plan", "-t", "counting", "-b", "600", "-s", strategy, "--tau", "0",
                              "--format", "json"], capsys)
        assert code == 0, err
        assert sum(json.loads(out)["allocation"].values()) == 600


@pytest.mark.parametrize("args, message", [
    (["-t", "countng", "-b", "2k"], "unknown target 'countng' (did you mean 'Counting'?)"),
    (["-t", "counting", "-b", "2q"], "budget '2q'"),
    (["-t", "counting", "-b", "-5"], "budget '-5'"),
    (["-t", "counting", "-b", "0"], "budget '0'"),
    (["-t", "counting", "-b", "1e99"], "budget '1e99'"),
    (["-t", "counting", "-b", "2k", "--available", "default=100"], "above the"),
    (["-t", "counting", "-b", "2k", "--exclude", "nonsense"], "unknown source 'nonsense'"),
    (["-t", "counting", "-b", "2k", "-m", "published:gpt"], "unknown built-in matrix"),
    (["-t", "counting", "-b", "2k", "-s", "magic"], "unknown strategy 'magic'"),
    (["-t", "counting", "-b", "2k", "--available", "Jigsaw"], "must be NAME=VALUE"),
])
def test_bad_input_exits_2_with_one_line_and_no_output_file(tmp_path, capsys, args, message):
    out_file = tmp_path / "plan.yaml"
    code, out, err = run(["plan", *args, "--out", str(out_file)], capsys)
    assert code == 2
    assert message in err and err.startswith("error: ") and err.count("\n") == 1
    assert not out_file.exists() and list(tmp_path.iterdir()) == []


def test_bad_matrix_file_names_the_row(tmp_path, capsys):
    bad = tmp_path / "m.csv"
    bad.write_text("seed,ft_task,task,perfection_gap_factor\ns0,A,B,0.1\ns0,A,C,NaN\n")
    code, _, err = run(["plan", "-t", "B", "-b", "100", "-m", str(bad)], capsys)
    assert code == 2 and "line 3" in err and "NaN" in err


def test_target_missing_from_matrix(tmp_path, capsys):
    m = tmp_path / "m.csv"
    m.write_text("seed,ft_task,task,perfection_gap_factor\ns0,A,B,0.1\ns0,C,B,0.2\n")
    code, _, err = run(["plan", "-t", "counting", "-b", "100", "-m", str(m)], capsys)
    assert code == 2 and "unknown target 'counting'" in err


def test_matrices_list_and_show(capsys):
    code, out, _ = run(["matrices", "list", "--format", "json"], capsys)
    ids = [r["id"] for r in json.loads(out)["matrices"]]
    assert ids == ["published:qwen2.5-vl-3b", "published:qwen2.5-vl-7b", "published:qwen2.5-vl-32b"]
    code, out, _ = run(["matrices", "show", "published:qwen2.5-vl-32b", "--format", "json"], capsys)
    cells = json.loads(out)["cells"]
    assert len(cells) == 169 and all(c["ci_low"] <= c["mean"] <= c["ci_high"] for c in cells)
    code, out, _ = run(["matrices", "show", "published:qwen2.5-vl-7b", "--ci"], capsys)
    assert code == 0 and "CT = Counting" in out and "±" in out


def test_every_command_has_help_with_example(capsys):
    from pgfselect.cli import COMMANDS

    for name in COMMANDS:
        code, out, _ = run([name, "--help"], capsys)
        assert code == 0 and "Example" in out, name


def test_plan_complete_predicts_unmeasured_cells(tmp_path, capsys, reference_dir):
    lines = (reference_dir / "pgf_qwen2.5-vl-7B-instruct.csv").read_text().splitlines()
    # Jigsaw and Spatial_Relation were never finetuned: their rows are absent.
    kept = [lines[0]] + [l for l in lines[1:] if l.split(",")[1] not in ("Jigsaw", "Spatial_Relation")]
    partial = tmp_path / "partial.csv"
    partial.write_text("\n".join(kept) + "\n")
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "-m", str(partial), "--format", "json"], capsys)
    assert code == 2 and "no rows for Spatial_Relation, Jigsaw" in err and "(--complete)" in err
    code, out, err = run(["plan", "-t", "counting", "-b", "2k", "-m", str(partial), "--complete",
                          "--prior", "published:qwen2.5-vl-3b", "--format", "json"], capsys)
    assert code == 0, err
    d = json.loads(out)
    assert sum(d["allocation"].values()) == 2000
    assert set(d["predicted_inputs"]) == {"Jigsaw", "Spatial_Relation"}
    assert d["pgf"]["Jigsaw"]["Counting"]["predicted"] is True
    assert d["pgf"]["Object_Localization"]["Counting"]["predicted"] is False


def test_available_file_caps_sources(tmp_path, capsys):
    caps = tmp_path / "available.yaml"
    caps.write_text("Object_Localization: 300\nSpatial_Relation: 250\n")
    code, out, _ = run(["plan", "-t", "counting", "-b", "500", "--available-file", str(caps), "--format", "json"], capsys)
    alloc = json.loads(out)["allocation"]
    assert code == 0 and sum(alloc.values()) == 500
    assert alloc["Spatial_Relation"] <= 250 and alloc["Object_Localization"] <= 300
    caps.write_text("- not a mapping\n")
    code, _, err = run(["plan", "-t", "counting", "-b", "500", "--available-file", str(caps)], capsys)
    assert code == 2 and "must map source names to example counts" in err
