"""Built tasks as measure/train data: --blink-val makes a folder that trains on built items and is
evaluated on BLINK val, and the recipes in recipes/built/ validate against such folders."""

import json
from pathlib import Path

import yaml
from PIL import Image

import build_fixtures as bf
from clirun import run_cli
from pgfselect.measure.config import validate_config
from pgfselect.names import BLINK_TASKS
from pgfselect.tasks import get_task
from pgfselect.tasks.build import ABSENT, build_task
from pgfselect.tasks.registry import blink_meta

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "recipes" / "built"


def test_blink_val_split_and_default_leak_guard(tmp_path):
    ann, images = bf.coco(tmp_path / "coco")
    leaked = sorted(images.iterdir())[:3]
    pics = [Image.open(p).convert("RGB").resize((128, 96)) for p in leaked] + [bf.smooth_image(900)]
    blink = tmp_path / "BLINK"
    parquet = bf.blink_parquet(blink / "Counting" / "val-00000-of-00001.parquet", pics)
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(parquet)
    t = t.append_column("question", pa.array([f"How many cats are there? ({i})" for i in range(4)]))
    t = t.append_column("choices", pa.array([["0", "1", "2", "3"]] * 4))
    t = t.append_column("answer", pa.array(["(B)"] * 4))
    pq.write_table(t, parquet)
    out = tmp_path / "built"
    # n = the 21 clean images: every source image is visited, so all 3 copies are found
    result = build_task("blink:Counting", "coco", out, 21, 0, images=images, annotations=ann, blink_val=blink)
    assert result["leak_guard"]["source_images_dropped"] == 3  # --blink-val is the default --exclude-images
    assert result["val"]["n"] == 4
    task = get_task(f"custom:{out}/task.yaml")
    val = task.items("val")
    assert [it.meta["source"]["idx"] for it in val] == [f"val_X_{i}" for i in range(4)]
    assert all(it.answer == 1 for it in val) and val[0].question == "How many cats are there? (0)"
    train = task.items("train")
    assert len(train) == 21 and not {it.meta["source"]["file_name"] for it in train} & {p.name for p in leaked}


N_STUB = 24


def stub_built(root: Path, n_train: int = N_STUB) -> None:
    """Stand-ins for data/blink-built/NAME: ``n_train`` copies of one tiny item (validating a
    recipe checks that every strategy's examples exist)."""
    for name in BLINK_TASKS:
        if name in ABSENT:
            continue
        meta = blink_meta(name)
        d = root / "data" / "blink-built" / name
        (d / "images").mkdir(parents=True)
        bf.smooth_image(1, (8, 8)).save(d / "images" / "a.png")
        rec = {"id": "x", "images": ["images/a.png"] * meta["n_images"], "question": "q?",
               "choices": [str(i) for i in range(meta["n_choices"])], "answer": 0}
        (d / "train.jsonl").write_text("".join(json.dumps({**rec, "id": f"x{i}"}) + "\n" for i in range(n_train)))
        (d / "val.jsonl").write_text(json.dumps(rec) + "\n")
        (d / "task.yaml").write_text(yaml.safe_dump({"name": f"blink-{name}", "n_choices": meta["n_choices"],
                                                     "n_images": meta["n_images"],
                                                     "splits": {"train": "train.jsonl", "val": "val.jsonl"}}))


def test_built_recipes_validate(tmp_path, monkeypatch, capsys):
    stub_built(tmp_path)
    monkeypatch.chdir(tmp_path)
    doc = yaml.safe_load((BUILT / "measure-qwen2.5-vl-7b.yaml").read_text())
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "config.json").write_text("{}")
    doc["model"]["path"] = str(tmp_path / "ckpt")
    c = validate_config(doc, where="measure-qwen2.5-vl-7b.yaml")
    assert len(c.tasks) == 13 and sum(t.startswith("custom:") for t in c.tasks) == 13 - len(ABSENT)
    ckpt = tmp_path / "models" / "Qwen2.5-VL-7B-Instruct"
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text("{}")
    monkeypatch.setenv("PGFSELECT_MODELS", str(tmp_path / "models"))
    # train recipes name their tasks relative to their own file (../../data/blink-built/NAME): a copy
    # of recipes/built/ beside the stand-in data/ resolves as the repository's own would
    copies = tmp_path / "recipes" / "built"
    copies.mkdir(parents=True)
    for name in ("counting-2k.yaml", "jigsaw-2k.yaml", "object-localization-2k.yaml"):
        doc = yaml.safe_load((BUILT / name).read_text())
        assert doc["budget"] == "2k"
        doc["budget"] = N_STUB  # validation opens every train item's images: 2k x 11 tasks takes ~40 s
        (copies / name).write_text(yaml.safe_dump(doc))
        code, out, err = run_cli(["train", str(copies / name), "--validate", "--format", "json"], capsys)
        assert code == 0, err
        res = json.loads(out)
        assert res["valid"] is True
        target = doc["target"]
        assert res["target_task"] == f"custom:{copies}/../../data/blink-built/{target}/task.yaml"
        assert {n for n, t in res["task_ids"].items() if t.startswith("blink:")} == set(ABSENT)


def test_blink_val_without_the_task_fails_before_building(tmp_path, capsys):
    photos = tmp_path / "photos"
    bf.image_folder(photos, 3, size=(80, 64))
    (tmp_path / "BLINK").mkdir()
    code, _, err = run_cli(["tasks", "build", "blink:Jigsaw", "--from", "images", "--images", str(photos), "--n", "2",
                            "--blink-val", str(tmp_path / "BLINK"), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Jigsaw" in err
    assert not (tmp_path / "o").exists()
