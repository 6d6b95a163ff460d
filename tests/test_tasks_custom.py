"""Custom tasks: YAML manifests over JSONL items or a datasets folder; export round trip."""

import json

import datasets
import pytest
from PIL import Image

from pgfselect.errors import PGFSelectError
from pgfselect.tasks import get_task, list_tasks
from pgfselect.tasks import custom as custom_mod
from pgfselect.tasks.custom import CUSTOM_TASKS_ENV, register_manifest
from pgfselect.tasks.export import export_items


@pytest.fixture(autouse=True)
def _clean_registry(monkeypatch):
    monkeypatch.setattr(custom_mod, "_REGISTERED", {})
    monkeypatch.delenv(CUSTOM_TASKS_ENV, raising=False)


def _task_dir(tmp_path, records=None, manifest=None):
    (tmp_path / "img").mkdir(exist_ok=True)
    for i in range(4):
        Image.new("RGB", (20, 20), (60 * i, 0, 0)).save(tmp_path / "img" / f"{i}.png")
    records = records if records is not None else [
        {"id": f"q{i}", "images": [f"img/{i}.png"], "question": "Which?", "choices": ["a", "b", "c"],
         "answer": ["(B)", 2, "A", 1][i]} for i in range(4)]
    (tmp_path / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "train.jsonl").write_text(json.dumps(
        {"id": "t0", "image": "img/0.png", "question": "Which?", "choices": ["a", "b", "c"], "answer": 0}) + "\n")
    (tmp_path / "task.yaml").write_text(manifest or (
        "name: defects\ndescription: which crop\nn_choices: 3\nlevel: mid\n"
        "splits: {train: train.jsonl, val: val.jsonl}\n"))
    return tmp_path / "task.yaml"


def test_jsonl_manifest_loads_items(tmp_path):
    path = _task_dir(tmp_path)
    task = get_task(f"custom:{path}")
    assert (task.id, task.n_choices, task.level) == ("custom:defects", 3, "mid")
    items = task.items("val")
    assert [it.answer for it in items] == [1, 2, 0, 1]
    assert items[0].id == "custom:defects/q0" and items[2].images[0].getpixel((0, 0)) == (120, 0, 0)
    assert task.items("train")[0].id == "custom:defects/t0"
    assert task.split_sizes() == {"train": 1, "val": 4, "test": 0}
    assert get_task("custom:defects", manifest=path).items("val", n=2, seed=1) == task.items("val", n=2, seed=1)
    assert task.provenance()["manifest_sha256"]
    with pytest.raises(PGFSelectError, match="has no 'test' split"):
        task.items("test")


def test_registration_and_env_var(tmp_path, monkeypatch):
    path = _task_dir(tmp_path)
    with pytest.raises(PGFSelectError, match="no custom tasks are registered"):
        get_task("custom:defects")
    monkeypatch.setenv(CUSTOM_TASKS_ENV, str(tmp_path))
    assert get_task("custom:Defects").id == "custom:defects"
    assert "custom:defects" in {t.id for t in list_tasks()}
    monkeypatch.delenv(CUSTOM_TASKS_ENV)
    register_manifest(path)
    assert get_task("custom:defects").manifest_path == path


@pytest.mark.parametrize("record,message", [
    ({"images": ["../outside.png"]}, "leaves the manifest's folder"),
    ({"images": ["/etc/passwd"]}, "leaves the manifest's folder"),
    ({"images": ["img/missing.png"]}, "does not exist"),
    ({"images": ["img/broken.png"]}, "cannot read image"),
    ({"choices": ["a", "b"]}, "has 2 choices; the task has 3"),
    ({"answer": 3}, "answer 3 is out of range for 3 choices"),
    ({"answer": "(D)"}, "out of range"),
    ({"images": []}, "must list 1-4 image paths"),
    ({"extra": 1}, "unknown field"),
])
def test_bad_items_are_reported_with_file_and_line(tmp_path, record, message):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "broken.png").write_bytes(b"not a png")
    good = {"id": "ok", "images": ["img/0.png"], "question": "Which?", "choices": ["a", "b", "c"], "answer": 0}
    path = _task_dir(tmp_path, records=[good, {**good, "id": "bad", **record}])
    with pytest.raises(PGFSelectError, match=message) as exc:
        get_task(f"custom:{path}").items("val")
    assert f"{tmp_path / 'val.jsonl'}:2: " in str(exc.value) and "\n" not in str(exc.value)


def test_invalid_json_line_and_duplicate_ids(tmp_path):
    path = _task_dir(tmp_path)
    (tmp_path / "val.jsonl").write_text('{"id": 1\n')
    with pytest.raises(PGFSelectError, match=r"val.jsonl:1: invalid JSON"):
        get_task(f"custom:{path}").items("val")
    rec = {"id": "same", "images": ["img/0.png"], "question": "Q", "choices": ["a", "b", "c"], "answer": 0}
    (tmp_path / "val.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(PGFSelectError, match=r"val.jsonl:2: duplicate id"):
        get_task(f"custom:{path}").items("val")


@pytest.mark.parametrize("text,message", [
    ("name: x\nn_choices: [\n", r"task.yaml:\d+: invalid YAML"),
    ("- a\n- b\n", "must be a YAML mapping"),
    ("name: x\nsplits: {val: val.jsonl}\n", "n_choices: Field required"),
    ("name: x\nn_choices: 1\nsplits: {val: val.jsonl}\n", "n_choices"),
    ("name: x\nn_choices: 3\n", "exactly one of 'splits'"),
    ("name: x\nn_choices: 3\nsplits: {val: ../val.jsonl}\n", "leaves the manifest's folder"),
    ("name: x\nn_choices: 3\nsplits: {val: nope.jsonl}\n", "does not exist"),
    ("name: x\nn_choices: 3\nsplits: {dev: val.jsonl}\n", "splits"),
    ("name: 'bad name!'\nn_choices: 3\nsplits: {val: val.jsonl}\n", "name"),
    ("name: x\nn_choices: 3\nsplits: {val: val.jsonl}\ncolour: red\n", "colour"),
])
def test_malformed_manifests(tmp_path, text, message):
    path = _task_dir(tmp_path, manifest=text)
    with pytest.raises(PGFSelectError, match=message) as exc:
        get_task(f"custom:{path}")
    assert str(path) in str(exc.value)


def test_datasets_folder_with_column_mapping(tmp_path):
    rows = [{"qid": f"r{i}", "text": f"q{i}", "options": ["x", "y"], "label": "AB"[i % 2],
             "front": Image.new("RGB", (16, 16), (i, i, i)), "back": Image.new("RGB", (16, 16), (0, 0, i))}
            for i in range(5)]
    feats = datasets.Features({"qid": datasets.Value("string"), "text": datasets.Value("string"),
                               "options": datasets.Sequence(datasets.Value("string")),
                               "label": datasets.Value("string"), "front": datasets.Image(), "back": datasets.Image()})
    ds = datasets.Dataset.from_list(rows, features=feats)
    datasets.DatasetDict({"train": ds.select(range(3)), "validation": ds.select(range(3, 5))}).save_to_disk(
        str(tmp_path / "hf"))
    (tmp_path / "task.yaml").write_text(
        "name: pairs\nn_choices: 2\nn_images: 2\ndataset: hf\nsplit_names: {val: validation}\n"
        "columns: {id: qid, question: text, choices: options, answer: label, images: [front, back]}\n")
    task = get_task(f"custom:{tmp_path / 'task.yaml'}")
    val = task.items("val")
    assert [it.id for it in val] == ["custom:pairs/r3", "custom:pairs/r4"]
    assert [it.answer for it in val] == [1, 0] and val[0].images[1].getpixel((0, 0)) == (0, 0, 3)
    assert len(task.items("train")) == 3
    (tmp_path / "task.yaml").write_text(
        "name: pairs\nn_choices: 2\ndataset: hf\ncolumns: {question: prompt, images: [front]}\n")
    with pytest.raises(PGFSelectError, match="has no column"):
        get_task(f"custom:{tmp_path / 'task.yaml'}").items("train")


def test_export_is_byte_identical_and_loads_back_as_custom_task(tmp_path):
    task = get_task("synthetic:VC", size=56)
    export_items(task, "train", 5, 7, tmp_path / "a")
    export_items(task, "train", 5, 7, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 5 * 2 + 3
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    back = get_task(f"custom:{tmp_path / 'a' / 'task.yaml'}").items("train")
    orig = task.items("train", 5, 7)
    assert [(b.question, b.choices, b.answer) for b in back] == [(o.question, o.choices, o.answer) for o in orig]
    assert [b.images[1].tobytes() for b in back] == [o.images[1].tobytes() for o in orig]
    # an export never overwrites a folder that is not an earlier export
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    with pytest.raises(PGFSelectError, match="not an earlier export"):
        export_items(task, "train", 2, 0, tmp_path / "c")
    assert (tmp_path / "c" / "notes.txt").read_text() == "mine"
