"""The BLINK loader on BLINK-format data that the tests build (no network)."""

import datasets
import pytest
from PIL import Image

from pgfselect.errors import PGFSelectError
from pgfselect.tasks import get_task
from pgfselect.tasks.blink import BLINK_DIR_ENV, BLINK_REVISION

COLUMNS = ("idx", "question", "sub_task", "image_1", "image_2", "image_3", "image_4", "choices", "answer",
           "prompt", "explanation")


def _features():
    f = {c: datasets.Value("string") for c in COLUMNS}
    f.update({f"image_{k}": datasets.Image() for k in range(1, 5)})
    f["choices"] = datasets.Sequence(datasets.Value("string"))
    return datasets.Features(f)


def _rows(config, n, n_images=1, choices=("0", "1", "2", "3"), answers=None):
    rows = []
    for i in range(n):
        images = [Image.new("RGB", (40 + i, 30), (10 * i, 20 * k, 0)) for k in range(n_images)]
        answer = answers[i] if answers else f"({'ABCD'[i % len(choices)]})"
        rows.append({"idx": f"val_{config}_{i + 1}", "question": f"Question {i}?", "sub_task": config,
                     **{f"image_{k + 1}": images[k] if k < n_images else None for k in range(4)},
                     "choices": list(choices), "answer": answer, "prompt": f"Question {i}? Select ...",
                     "explanation": ""})
    return rows


def _write(tmp_path, config, rows, layout="hub"):
    ds = datasets.Dataset.from_list(rows, features=_features())
    if layout == "hub":  # ROOT/CONFIG/val-00000-of-00001.parquet, as in the hub repository
        (tmp_path / config).mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(tmp_path / config / "val-00000-of-00001.parquet"))
        return tmp_path
    if layout == "disk":
        datasets.DatasetDict({"val": ds}).save_to_disk(str(tmp_path / config))
        return tmp_path
    path = tmp_path / f"{config}.parquet"
    ds.to_parquet(str(path))
    return path


def test_loads_hub_layout_parquet_and_maps_columns(tmp_path):
    root = _write(tmp_path, "Counting", _rows("Counting", 8))
    task = get_task("blink:CT", local_path=root)
    items = task.items("val")
    assert [it.id for it in items] == [f"blink:Counting/val_Counting_{i + 1}" for i in range(8)]
    assert [it.answer for it in items] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert items[3].choices == ["0", "1", "2", "3"] and items[3].question == "Question 3?"
    assert items[5].images[0].size == (45, 30) and items[5].images[0].mode == "RGB"
    prov = task.provenance()
    assert prov["dataset_revision"] and prov["dataset_config"] == "Counting"
    assert get_task("blink:CT", local_path=root, revision="abc123").provenance()["dataset_revision"] == "abc123"
    # a seeded subset, deterministic
    sub = task.items("val", n=3, seed=5)
    assert [it.id for it in sub] == [it.id for it in task.items("val", n=3, seed=5)]
    assert len(sub) == 3 and set(it.id for it in sub) <= set(it.id for it in items)


def test_multi_image_rows_keep_image_order_and_drop_empty_slots(tmp_path):
    path = _write(tmp_path, "Visual_Correspondence", _rows("Visual_Correspondence", 4, n_images=2), layout="file")
    items = get_task("blink:VC", local_path=path).items("val")
    assert [len(it.images) for it in items] == [2, 2, 2, 2]
    assert items[1].images[1].getpixel((0, 0)) == (10, 20, 0)


def test_save_to_disk_copy_and_env_var(tmp_path, monkeypatch):
    root = _write(tmp_path, "Relative_Depth", _rows("Relative_Depth", 6, choices=("A", "B")), layout="disk")
    monkeypatch.setenv(BLINK_DIR_ENV, str(root))
    task = get_task("blink:relative depth")
    assert task.local_path == root
    assert len(task.items("val")) == 6


def test_hub_revision_is_a_named_constant():
    task = get_task("blink:CT")
    assert task.local_path is None
    assert task.provenance()["dataset_revision"] == BLINK_REVISION
    assert task.provenance()["dataset"] == "BLINK-Benchmark/BLINK"


def test_wrong_number_of_choices_names_file_and_row(tmp_path):
    rows = _rows("Counting", 3)
    rows[2]["choices"] = ["1", "2", "3"]
    root = _write(tmp_path, "Counting", rows)
    with pytest.raises(PGFSelectError, match=r"val-00000-of-00001.parquet row 2: has 3 choices; BLINK Counting has 4"):
        get_task("blink:CT", local_path=root).items("val")


def test_answer_out_of_range_is_reported(tmp_path):
    root = _write(tmp_path, "Counting", _rows("Counting", 2, answers=["(A)", "(F)"]))
    with pytest.raises(PGFSelectError, match=r"row 1: answer '\(F\)' is out of range for 4 choices"):
        get_task("blink:CT", local_path=root).items("val")


def test_splits_train_fraction_and_test(tmp_path):
    root = _write(tmp_path, "Counting", _rows("Counting", 40))
    task = get_task("blink:CT", local_path=root)
    with pytest.raises(PGFSelectError, match="no training split; pass train_fraction"):
        task.items("train")
    with pytest.raises(PGFSelectError, match="test split has no public answers"):
        task.items("test")
    with pytest.raises(PGFSelectError, match="asked for n=41"):
        task.items("val", n=41)
    carved = get_task("blink:CT", local_path=root, train_fraction=0.5)
    train, val = carved.items("train"), carved.items("val")
    assert train and val and len(train) + len(val) == 40
    assert not {it.id for it in train} & {it.id for it in val}
    assert carved.split_sizes() == {"train": len(train), "val": len(val), "test": 0}


def test_bad_local_copies(tmp_path):
    with pytest.raises(PGFSelectError, match="does not exist"):
        get_task("blink:CT", local_path=tmp_path / "nope").items("val")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PGFSelectError, match="no BLINK data for Counting"):
        get_task("blink:CT", local_path=tmp_path / "empty").items("val")
    datasets.Dataset.from_list([{"idx": "1", "question": "q"}]).to_parquet(str(tmp_path / "x.parquet"))
    with pytest.raises(PGFSelectError, match="missing column"):
        get_task("blink:CT", local_path=tmp_path / "x.parquet").items("val")
    with pytest.raises(PGFSelectError, match="train_fraction"):
        get_task("blink:CT", train_fraction=1.0)


def test_parquet_without_datasets_metadata_and_unreadable_image(tmp_path):
    """A BLINK-format parquet written by plain pyarrow: images are {bytes, path} structs."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def png(colour):
        buf = io.BytesIO()
        Image.new("RGB", (12, 10), colour).save(buf, format="PNG")
        return buf.getvalue()

    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table({
        "idx": ["val_Jigsaw_1", "val_Jigsaw_2"], "question": ["Which part?", "Which part?"],
        **{f"image_{k}": pa.array([{"bytes": png((k * 40, 0, 0)), "path": None}] * 2 if k <= 3 else [None, None],
                                  type=image_type) for k in range(1, 5)},
        "choices": [["the second image", "the third image"]] * 2, "answer": ["(B)", "(A)"]})
    pq.write_table(table, tmp_path / "val.parquet")
    items = get_task("blink:Jigsaw", local_path=tmp_path).items("val")
    assert [len(it.images) for it in items] == [3, 3] and [it.answer for it in items] == [1, 0]
    assert items[0].images[2].getpixel((0, 0)) == (120, 0, 0)
    table = table.set_column(table.schema.get_field_index("image_1"), "image_1",
                             pa.array([{"bytes": b"junk", "path": None}] * 2, type=image_type))
    pq.write_table(table, tmp_path / "broken.parquet")
    with pytest.raises(PGFSelectError, match=r"broken.parquet row 0 column image_1: unreadable image"):
        get_task("blink:Jigsaw", local_path=tmp_path / "broken.parquet").items("val")
