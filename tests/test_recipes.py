"""Recipes: the schema, the shipped recipes, bad input, and one real tiny train + compare.

The small PGF matrix written here is an input that decides the mixtures (a fixture), not a
measured result. The end-to-end test trains the tiny local model for two steps per run: it
checks the plumbing and determinism, not accuracy.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pgfselect.cli import main
from pgfselect.matrix import PGFMatrix
from pgfselect.recipes import load_recipe, recipe_from_dict
from pgfselect.recipes.resolve import resolve, sampling_seed

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ["verify-tiny.yaml", "demo-scarce-functional-correspondence.yaml", "counting-2k.yaml", "jigsaw-2k.yaml", "object-localization-2k.yaml"]
TASKS = ["synthetic:Counting", "synthetic:Spatial_Relation", "synthetic:Object_Localization"]


def shipped_recipes():
    out = []
    for p in sorted((ROOT / "recipes").glob("*.yaml")):
        doc = yaml.safe_load(p.read_text())
        if isinstance(doc, dict) and "pgfselect_recipe" in doc:
            out.append(p)
    return out


@pytest.fixture
def matrix_csv(tmp_path):
    # rows: sources, columns: targets, in TASKS order; two seeds
    values = np.array([[[0.30, 0.05, 0.02], [0.20, 0.40, 0.10], [0.10, 0.05, 0.30]],
                       [[0.34, 0.03, 0.04], [0.16, 0.36, 0.12], [0.12, 0.07, 0.26]]])
    path = tmp_path / "matrix.csv"
    PGFMatrix.from_values(values, TASKS, TASKS, seeds=["seed_0", "seed_1"], model="tiny:t64").to_csv(path)
    return path


def tiny_recipe(matrix_csv, **over):
    doc = {"pgfselect_recipe": 1, "name": "test-tiny",
           "model": {"path": "tiny:t64", "cpu_threads": 1, "warmup": {"steps": 4, "examples_per_task": 8, "batch_size": 4}},
           "target": "counting", "budget": 8, "matrix": str(matrix_csv), "mixture": "pgf",
           "baselines": ["direct", "random", "uniform", "zero_shot"], "planner": {"saturation": 4},
           "seeds": [0, 1],
           "training": {"method": "lora", "rank": 4, "alpha": 8, "learning_rate": 1e-3, "max_steps": 2,
                        "batch_size": 4},
           "evaluation": {"split": "val", "n_items": 8, "batch_size": 8, "seed": 0}}
    doc.update(over)
    return doc


def write_recipe(tmp_path, doc, name="recipe.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


# ------------------------------------------------------------------ shipped recipes
def test_every_shipped_recipe_validates(tmp_path, monkeypatch, capsys):
    found = {p.name for p in shipped_recipes()}
    assert set(SHIPPED) <= found
    # The GPU recipes point at a local Qwen2.5-VL-7B checkpoint through $PGFSELECT_MODELS.
    ckpt = tmp_path / "models" / "Qwen2.5-VL-7B-Instruct"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    monkeypatch.setenv("PGFSELECT_MODELS", str(tmp_path / "models"))
    monkeypatch.delenv("PGFSELECT_BLINK_DIR", raising=False)
    for path in shipped_recipes():
        main(["train", str(path), "--validate", "--format", "json"])
        doc = json.loads(capsys.readouterr().out)
        assert doc["valid"] is True, path
        # every recipe verifies its plan against the target alone and a random mix; the demo,
        # sized to run in minutes, leaves out uniform
        wanted = {"pgf", "direct", "random"} | (set() if path.name.startswith("demo") else {"uniform"})
        assert wanted <= {r["strategy"] for r in doc["runs"]}, path
        budget = load_recipe(path).recipe.budget
        assert all(r["examples"] == (0 if r["strategy"] == "zero_shot" else budget) for r in doc["runs"]), path
    gpu = load_recipe(ROOT / "recipes" / "counting-2k.yaml")
    assert gpu.recipe.budget == 2000 and gpu.recipe.model.path.endswith("Qwen2.5-VL-7B-Instruct")
    res = resolve(gpu, check_data=False)
    assert res.matrix.name == "published:qwen2.5-vl-7b" and res.target_id == "blink:Counting"
    assert "blink:Counting" not in res.runs[0].allocation  # the planned mix never uses the target's data


def test_verify_tiny_recipe():
    loaded = load_recipe(ROOT / "recipes" / "verify-tiny.yaml")
    r = loaded.recipe
    assert r.model.is_tiny and r.model.cpu_threads == 1
    assert r.strategies[:4] == ["pgf", "direct", "random", "uniform"] and len(r.seeds) == 2
    res = resolve(loaded)
    assert res.target_id == "synthetic:Counting" and res.eval_tasks == ["synthetic:Counting"]
    assert r.evaluation.split == "test"  # the items that judge the mix chose nothing
    runs = {(x.strategy, x.seed): x for x in res.runs}
    assert len(runs) == 9 and runs[("direct", 0)].allocation == {"synthetic:Counting": 400}
    assert all(t != "synthetic:Counting" for t in runs[("pgf", 0)].allocation)


# ------------------------------------------------------------------ resolution
def test_resolution_is_deterministic_and_seeded(tmp_path, matrix_csv):
    loaded = recipe_from_dict(tiny_recipe(matrix_csv), tmp_path)
    a, b = resolve(loaded), resolve(loaded)
    assert a.recipe_hash == b.recipe_hash
    assert [r.describe() for r in a.runs] == [r.describe() for r in b.runs]
    runs = {(r.strategy, r.seed): r for r in a.runs}
    assert runs[("direct", 0)].allocation == {"synthetic:Counting": 8}
    assert "synthetic:Counting" not in runs[("pgf", 0)].allocation
    assert sum(runs[("pgf", 1)].allocation.values()) == 8
    assert runs[("zero_shot", None)].allocation == {}
    assert runs[("pgf", 0)].sampling_seeds["synthetic:Spatial_Relation"] == sampling_seed(0, "pgf", "synthetic:Spatial_Relation")
    assert runs[("pgf", 0)].sampling_seeds != runs[("pgf", 1)].sampling_seeds
    # random uses as many sources as the planned mix unless planner.k says otherwise
    assert len(runs[("random", 0)].allocation) == len(runs[("pgf", 0)].allocation)
    # adding a seed or a baseline keeps the hash (finished runs are reused); training changes it
    more = recipe_from_dict(tiny_recipe(matrix_csv, seeds=[0, 1, 2], baselines=["direct", "zero_shot"]), tmp_path)
    assert resolve(more).recipe_hash == a.recipe_hash
    other = recipe_from_dict(tiny_recipe(matrix_csv, budget=16), tmp_path)
    assert resolve(other).recipe_hash != a.recipe_hash


def test_plan_file_as_mixture(tmp_path, matrix_csv, capsys):
    plan = tmp_path / "plan.yaml"
    main(["plan", "-t", "counting", "-b", "8", "-m", str(matrix_csv), "--saturation", "4", "--out", str(plan),
          "--format", "json"])
    capsys.readouterr()
    loaded = recipe_from_dict(tiny_recipe(matrix_csv, matrix=None, mixture={"plan": "plan.yaml"}), tmp_path)
    res = resolve(loaded)
    planned = yaml.safe_load(plan.read_text())["allocation"]
    assert res.runs[0].strategy == "pgf"
    assert res.runs[0].allocation == {k: v for k, v in planned.items()}


# ------------------------------------------------------------------ bad input
def check_fails(args, capsys, match):
    with pytest.raises(SystemExit) as exc:
        main(args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and match in err, err
    assert err.count("\n") == 1


def test_schema_errors_name_the_key_path(tmp_path, matrix_csv, capsys):
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, training={"rank": 0}))
    check_fails(["train", str(p), "--validate"], capsys, "training.rank")
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, evaluation={"n_itemz": 3}))
    check_fails(["train", str(p), "--validate"], capsys, "evaluation.n_itemz: unknown key")
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, baselines=["direct", "best_of_both"]))
    check_fails(["train", str(p), "--validate"], capsys, "unknown strategy 'best_of_both'")
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, budget="lots"))
    check_fails(["train", str(p), "--validate"], capsys, "budget")
    doc = tiny_recipe(matrix_csv)
    del doc["target"]
    check_fails(["train", str(write_recipe(tmp_path, doc)), "--validate"], capsys, "target: required key is missing")


def test_plan_for_another_target_or_matrix_is_refused(tmp_path, matrix_csv, capsys):
    plan = tmp_path / "plan.yaml"
    main(["plan", "-t", "Spatial_Relation", "-b", "8", "-m", str(matrix_csv), "--out", str(plan), "--format", "json"])
    capsys.readouterr()
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, mixture={"plan": "plan.yaml"}))
    check_fails(["train", str(p), "--out", str(tmp_path / "R")], capsys, "made for target 'synthetic:Spatial_Relation'")
    main(["plan", "-t", "counting", "-b", "8", "-m", "published:qwen2.5-vl-7b", "--out", str(plan), "--format", "json"])
    capsys.readouterr()
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, mixture={"plan": "plan.yaml"}))
    check_fails(["train", str(p), "--validate"], capsys, "made for target 'Counting'")
    doc = yaml.safe_load(plan.read_text())
    doc.update(target="synthetic:Counting", matrix="elsewhere.csv", matrix_digest="0123456789abcdef",
               allocation={"synthetic:Spatial_Relation": 8})
    plan.write_text(yaml.safe_dump(doc))
    check_fails(["train", str(p), "--validate"], capsys, "was made from matrix 'elsewhere.csv'")
    assert not (tmp_path / "R").exists()


def _custom_task(tmp_path, n_train=3):
    from PIL import Image

    folder = tmp_path / "custom"
    folder.mkdir()
    Image.new("RGB", (28, 28), "red").save(folder / "img.png")
    for split, n in (("train", n_train), ("val", 4)):
        rows = [{"id": f"{split}{i}", "images": ["img.png"], "question": "Which colour?",
                 "choices": ["red", "blue", "green", "grey"], "answer": 0} for i in range(n)]
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "task.yaml").write_text(yaml.safe_dump({"name": "colours", "n_choices": 4,
                                                      "splits": {"train": "train.jsonl", "val": "val.jsonl"}}))
    return folder / "task.yaml"


def test_budget_above_available_data(tmp_path, matrix_csv, capsys):
    manifest = _custom_task(tmp_path)
    doc = tiny_recipe(matrix_csv, tasks={"synthetic:Counting": f"custom:{manifest}"})
    p = write_recipe(tmp_path, doc)
    check_fails(["train", str(p), "--out", str(tmp_path / "R")], capsys,
           "but its train split has 3")
    assert not (tmp_path / "R").exists()


def test_output_folder_of_another_recipe_is_refused(tmp_path, matrix_csv, capsys):
    from pgfselect.recipes.runner import RecipeRunner, write_resolved

    first = recipe_from_dict(tiny_recipe(matrix_csv), tmp_path)
    out = tmp_path / "R"
    write_resolved(first, resolve(first), out)
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, budget=16))
    before = (out / "recipe.yaml").read_text()
    check_fails(["train", str(p), "--out", str(out)], capsys, "holds runs of a different recipe")
    assert (out / "recipe.yaml").read_text() == before
    # --force accepts the folder (checked without training)
    RecipeRunner(load_recipe(p), out, force=True).prepare()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    check_fails(["train", str(p), "--out", str(tmp_path / "junk")], capsys, "not empty")


def test_only_unknown_strategy(tmp_path, matrix_csv, capsys):
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, baselines=["direct"]))
    check_fails(["train", str(p), "--out", str(tmp_path / "R"), "--only", "uniform"], capsys, "not a strategy of this recipe")


def test_only_takes_one_seed_of_a_strategy_so_two_processes_can_split_a_recipe(tmp_path, matrix_csv, capsys):
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv, baselines=["direct", "zero_shot"]))
    main(["train", str(p), "--validate", "--only", "pgf", "--only", "direct:1", "--only", "zero_shot", "--format", "json"])
    runs = {(r["strategy"], r["seed"]) for r in json.loads(capsys.readouterr().out)["runs"]}
    assert runs == {("pgf", 0), ("pgf", 1), ("direct", 1), ("zero_shot", None)}
    main(["train", str(p), "--validate", "--only", "direct:0", "--only", "direct", "--format", "json"])
    assert len(json.loads(capsys.readouterr().out)["runs"]) == 2  # the whole strategy wins over one seed
    for bad, said in (("direct:7", "'7' is not a seed of direct"), ("direct:x", "'x' is not a seed"),
                      ("zero_shot:0", "no seed (it has none)")):
        check_fails(["train", str(p), "--out", str(tmp_path / "R"), "--only", bad], capsys, said)
    assert not (tmp_path / "R").exists()


# ------------------------------------------------------------------ a real tiny run
@pytest.mark.slow
def test_train_compare_end_to_end_and_determinism(tmp_path, matrix_csv, capsys, monkeypatch):
    monkeypatch.setenv("PGFSELECT_CACHE_DIR", str(tmp_path / "cache"))
    p = write_recipe(tmp_path, tiny_recipe(matrix_csv))
    out = tmp_path / "R"
    main(["train", str(p), "--out", str(out), "--format", "json"])
    summary = json.loads(capsys.readouterr().out)
    assert summary["computed"] == 9 and summary["reused"] == 0
    runs = sorted(out.glob("runs/*/*"))
    assert len(runs) == 9
    for run in runs:
        for name in ("item_ids.jsonl", "metrics.json", "predictions.jsonl", "config.json", "versions.json"):
            assert (run / name).is_file(), run / name
    ids = [json.loads(line) for line in (out / "runs/pgf/seed_0/item_ids.jsonl").read_text().splitlines()]
    cfg = json.loads((out / "runs/pgf/seed_0/config.json").read_text())
    assert len(ids) == 8 and {i["task"] for i in ids} == set(cfg["allocation"])
    assert (out / "runs/zero_shot/base/item_ids.jsonl").read_text() == ""
    assert len((out / "runs/direct/seed_1/predictions.jsonl").read_text().splitlines()) == 8

    main(["compare", str(out), "--format", "json"])
    rows = {r["strategy"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"pgf", "direct", "random", "uniform", "zero_shot"} == set(rows)
    for s in ("pgf", "direct", "random", "uniform"):
        assert rows[s]["n_seeds"] == 2
        assert rows[s]["ci_low"] <= rows[s]["mean"] <= rows[s]["ci_high"]
    assert (out / "compare.png").is_file()

    # rerun: everything reused, nothing retrained
    main(["train", str(p), "--out", str(out), "--format", "json"])
    assert json.loads(capsys.readouterr().out)["reused"] == 9

    # every run records the base it trained from; a folder's runs must share one base
    from pgfselect.measure.bases import weights_fingerprint

    built = weights_fingerprint(next((tmp_path / "cache").rglob("model.safetensors")).parent)
    assert {json.loads((r / "config.json").read_text())["base_fingerprint"] for r in runs} == {built}
    other = tmp_path / "R-other-base"
    import shutil
    shutil.copytree(out, other)
    cfg_path = other / "runs/pgf/seed_0/config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(dict(cfg, base_fingerprint="0123456789abcdef")))
    shutil.rmtree(other / "runs/direct/seed_1")  # one run left to train

    def no_model(*a, **k):
        raise AssertionError("the model was loaded before the base check refused")

    with monkeypatch.context() as mp, pytest.raises(SystemExit) as exc:
        mp.setattr("pgfselect.recipes.runner.ModelSession", no_model)  # refused before any loading
        main(["train", str(p), "--out", str(other), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "run runs/pgf/seed_0 trained from base 0123456789abcdef" in err[0]
    assert not (other / "runs/direct/seed_1").exists()
    main(["compare", str(other), "--format", "json", "--plot", str(tmp_path / "o.png")])
    rows = json.loads(capsys.readouterr().out)
    assert all(any("2 different tiny bases" in w for w in r["warnings"]) for r in rows)

    # a matrix measured on another base than this one: said in the summary, not refused
    from pgfselect.matrix import load
    m = load(matrix_csv)
    m.provenance["base_fingerprint"] = "fedcba9876543210"
    elsewhere = tmp_path / "matrix-elsewhere.csv"
    m.to_csv(elsewhere)
    p2 = write_recipe(tmp_path, tiny_recipe(elsewhere), name="elsewhere.yaml")
    main(["train", str(p2), "--out", str(tmp_path / "R3"), "--only", "zero_shot", "--format", "json"])
    warnings = json.loads(capsys.readouterr().out)["warnings"]
    assert any(f"measured on base fedcba9876543210, these runs train from base {built}" in w for w in warnings)

    # same recipe and seed in a fresh folder, the tiny base built anew: identical item ids,
    # metrics and predictions (CPU)
    again = tmp_path / "R2"
    main(["train", str(p), "--out", str(again), "--only", "pgf", "--cache-dir", str(tmp_path / "cache2"),
          "--format", "json", "--quiet"])
    capsys.readouterr()
    for run in ("pgf/seed_0", "pgf/seed_1"):
        a, b = out / "runs" / run, again / "runs" / run
        assert (a / "item_ids.jsonl").read_text() == (b / "item_ids.jsonl").read_text()
        assert (a / "predictions.jsonl").read_text() == (b / "predictions.jsonl").read_text()
        m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
        for m in (m1, m2):
            m["train"].pop("train_seconds")
            m.pop("eval_seconds")
        assert m1 == m2


def test_demo_recipe_trains_from_the_matrix_base_and_withholds_the_target(capsys):
    """The demo's recipe (run by scripts/demo.sh): scarce-target mode on the shipped measured
    synthetic matrix, with the model, warm-up, task options and training settings that matrix was
    measured with (so its runs train from the matrix's base), scored on the test split."""
    recipe = ROOT / "recipes" / "demo-scarce-functional-correspondence.yaml"
    assert str(recipe.relative_to(ROOT)) in (ROOT / "scripts" / "demo.sh").read_text()
    doc = yaml.safe_load(recipe.read_text())
    measure_doc = yaml.safe_load((ROOT / "recipes" / "measure-synthetic.yaml").read_text())
    for key in ("model", "task_options"):
        assert doc[key] == measure_doc[key], key
    for key in ("method", "train_vision", "learning_rate", "batch_size", "lr_scheduler"):
        assert doc["training"][key] == measure_doc["training"][key], key
    assert doc["target"] in measure_doc["tasks"]
    assert (recipe.parent / doc["matrix"]).resolve() == ROOT / "benchmarks" / "results" / "selection_synthetic_matrix_base4d531110.csv"
    assert 0 < doc["scarce_target"] < doc["budget"]  # the scarce-target story: a few target examples
    assert doc["evaluation"]["split"] == "test" and measure_doc["evaluation"]["split"] == "val"
    main(["train", str(recipe), "--validate", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] is True
    runs = {(r["strategy"], r["seed"]): r for r in out["runs"]}
    assert {s for s, _ in runs} == {"pgf", "random", "best_single", "direct", "zero_shot"}
    for (strategy, seed), r in runs.items():
        if strategy != "zero_shot":
            assert r["allocation"][doc["target"]] == doc["scarce_target"] and r["examples"] == doc["budget"]
        if strategy in ("pgf", "random", "best_single"):  # the target's own row is withheld
            assert set(r["allocation"]) - {doc["target"]}, r
            assert r["allocation"].get(doc["target"]) == doc["scarce_target"]


def test_scarce_target_mode_adds_the_same_target_examples_to_every_arm(tmp_path, matrix_csv):
    doc = tiny_recipe(matrix_csv, budget=40, scarce_target=10, baselines=["direct", "random", "zero_shot"])
    res = resolve(recipe_from_dict(doc, base_dir=tmp_path), check_data=False)
    target = "synthetic:Counting"
    by = {(r.strategy, r.seed): r for r in res.runs}
    pgf = by[("pgf", 0)]
    assert pgf.allocation[target] == 10 and pgf.examples == 40
    assert target not in (pgf.plan or {}).get("allocation", {})  # the target's own row is never planned
    assert by[("direct", 0)].allocation == {target: 10} and by[("direct", 0)].repeat_to == 40
    for seed in (0, 1):  # one set of n target examples per seed, whatever the arm
        assert len({by[(s, seed)].sampling_seeds[target] for s in ("pgf", "random", "direct")}) == 1
    from pgfselect.recipes.runner import sample_items

    loaded = recipe_from_dict(doc, base_dir=tmp_path)
    items = sample_items(loaded, by[("direct", 1)])
    assert len(items) == 40 and len({it.id for _, it in items}) == 10  # cycled to the budget
    with pytest.raises(Exception, match="scarce_target"):
        recipe_from_dict(tiny_recipe(matrix_csv, budget=10, scarce_target=10), base_dir=tmp_path)


def test_no_helpful_source_skips_the_planned_runs_with_a_warning(tmp_path):
    values = np.full((2, 3, 3), -0.2)
    for i in range(3):
        values[:, i, i] = 0.5
    path = tmp_path / "neg.csv"
    PGFMatrix.from_values(values, TASKS, TASKS, seeds=["seed_0", "seed_1"], model="tiny:t64").to_csv(path)
    res = resolve(recipe_from_dict(tiny_recipe(path), base_dir=tmp_path), check_data=False)
    assert {r.strategy for r in res.runs} == {"direct", "random", "uniform", "zero_shot"}
    assert any("pgf" in w and "skipped" in w and "zero_shot" in w for w in res.warnings)


def test_a_run_with_the_same_seed_and_items_as_a_finished_one_reuses_it(tmp_path, matrix_csv, monkeypatch):
    """best_single planning pgf's mixture: its runs copy pgf's (marked), no second training; a run
    whose items differ is trained."""
    from pgfselect.recipes import runner as runner_mod
    from pgfselect.recipes.runner import RecipeRunner, run_config, sample_items, write_resolved

    loaded = recipe_from_dict(tiny_recipe(matrix_csv, baselines=["best_single"], seeds=[0]), tmp_path)
    out = tmp_path / "R"
    runner = RecipeRunner(loaded, out, only=["pgf"], progress=False)
    res = runner.resolution_ = runner.prepare()
    write_resolved(loaded, res, out)
    pgf, best = (next(r for r in res.runs if r.strategy == s) for s in ("pgf", "best_single"))
    assert pgf.allocation == best.allocation  # the premise: best_single plans the same mixture here
    run_dir = out / pgf.key
    run_dir.mkdir(parents=True)
    items = [{"id": it.id, "task": task} for task, it in sample_items(loaded, pgf)]
    (run_dir / "item_ids.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    (run_dir / "predictions.jsonl").write_text('{"task": "t", "id": "x", "correct": true}\n')
    (run_dir / "versions.json").write_text("{}")
    (run_dir / "config.json").write_text(json.dumps(run_config(loaded, res, pgf)))
    metrics = {"format": runner_mod.RUN_FORMAT, "recipe_hash": res.recipe_hash, "strategy": "pgf", "seed": 0,
               "accuracy": 0.625, "expected_pgf": pgf.expected_pgf}
    (run_dir / "metrics.json").write_text(json.dumps(metrics))
    trained = []
    monkeypatch.setattr(RecipeRunner, "_session", lambda self, res, log: (None, None))
    monkeypatch.setattr(RecipeRunner, "_run_one", lambda self, s, e, res, run: trained.append(run.key))
    summary = RecipeRunner(loaded, out, only=["pgf", "best_single"], progress=False).run()
    assert trained == [] and summary["reused"] == 2
    copied = json.loads((out / best.key / "metrics.json").read_text())
    assert copied["strategy"] == "best_single" and copied["accuracy"] == 0.625
    assert copied["same_training_as"] == pgf.key
    assert json.loads((out / best.key / "config.json").read_text())["strategy"] == "best_single"
    # other items (say, another sampling of the same sources): trained, not copied
    (out / best.key / "metrics.json").unlink()
    (run_dir / "item_ids.jsonl").write_text(json.dumps({"id": "other", "task": items[0]["task"]}) + "\n")
    RecipeRunner(loaded, out, only=["best_single"], progress=False).run()
    assert trained == [best.key]
