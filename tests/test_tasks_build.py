"""tasks build: COCO (Counting, Object_Localization, Spatial_Relation), Jigsaw from an image folder,
the leak guard, the CLI (--list, errors, json), determinism, and source records kept through export."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import build_fixtures as bf
from clirun import run_cli
from pgfselect.names import BLINK_TASKS
from pgfselect.tasks import get_task
from pgfselect.tasks.build import ABSENT, BUILDERS, build_task, builder_rows
from pgfselect.tasks.build.leak import phash


def read_items(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]


@pytest.fixture
def coco(tmp_path):
    return bf.coco(tmp_path / "coco")


def test_counting_answer_is_the_non_crowd_count(tmp_path, coco, capsys):
    ann, images = coco
    out = tmp_path / "ct"
    code, _, err = run_cli(["tasks", "build", "blink:Counting", "--from", "coco", "--annotations", str(ann),
                            "--images", str(images), "--n", "20", "--seed", "3", "--out", str(out), "-q"], capsys)
    assert code == 0, err
    doc = json.loads(ann.read_text())
    items = read_items(out)
    assert len(items) == 20
    for it in items:
        src = it["source"]
        truth = sum(1 for a in doc["annotations"] if a["image_id"] == src["image_id"]
                    and a["category_id"] == src["category_id"] and not a["iscrowd"])
        assert it["choices"][it["answer"]] == str(truth)
        assert len(it["choices"]) == 4 and len(set(it["choices"])) == 4
        assert len(it["images"]) == 1 and src["file_name"] == f"{src['image_id'] - 1000:012d}.png"
        name = {1: "cats", 2: "dogs", 3: "people", 4: "birds"}[src["category_id"]]
        assert it["question"] == f"How many {name} are there?"
    # a category with a crowd region has no countable truth: never asked
    crowd = {(a["image_id"], a["category_id"]) for a in doc["annotations"] if a["iscrowd"]}
    assert not [it for it in items if (it["source"]["image_id"], it["source"]["category_id"]) in crowd]
    assert len({it["answer"] for it in items}) > 1  # the gold position varies
    # the build is a custom task that tasks export reads, and the source survives the export
    exp = tmp_path / "exp"
    code, _, err = run_cli(["tasks", "export", f"custom:{out}/task.yaml", "--split", "train", "--out", str(exp),
                            "-q"], capsys)
    assert code == 0, err
    exported = read_items_export(exp)
    assert [e["source"] for e in exported] == [it["source"] for it in items]
    assert [e["answer"] for e in exported] == [it["answer"] for it in items]


def read_items_export(exp: Path) -> list[dict]:
    return [json.loads(line) for line in (exp / "items.jsonl").read_text().splitlines()]


def _box_colour_share(img: Image.Image, box, colour) -> float:
    """Share of the pixels on ``box``'s outline (x0, y0, x1, y1) that have exactly ``colour``."""
    px = np.asarray(img)
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    edge = [px[y0, x] for x in range(x0, x1)] + [px[y1, x] for x in range(x0, x1)] + \
           [px[y, x0] for y in range(y0, y1)] + [px[y, x1] for y in range(y0, y1)]
    return float(np.mean([tuple(p) == colour for p in edge]))


def test_object_localization_answer_box_is_the_annotation(tmp_path, coco):
    ann, images = coco
    out = tmp_path / "ol"
    build_task("blink:Object_Localization", "coco", out, 12, 0, images=images, annotations=ann)
    doc = json.loads(ann.read_text())
    boxes = {a["id"]: a["bbox"] for a in doc["annotations"]}
    task = get_task(f"custom:{out}/task.yaml")
    assert task.n_choices == 2 and task.n_images == 1
    answers = []
    for it in read_items(out):
        src = it["source"]
        assert it["choices"] == ["Box A", "Box B"]
        x, y, w, h = boxes[src["annotation_id"]]
        letter = "AB"[it["answer"]]
        assert src["boxes_xyxy"][letter] == [x, y, x + w, y + h]
        other = src["boxes_xyxy"]["BA"[it["answer"]]]
        assert other != src["boxes_xyxy"][letter]
        # the drawn outline on the true box has the answer label's colour (A red, B blue), not the other's
        img = Image.open(out / it["images"][0])
        colours = {"A": (255, 0, 0), "B": (0, 90, 255)}
        mine = _box_colour_share(img, [x, y, min(x + w, 63), min(y + h, 47)], colours[letter])
        theirs = _box_colour_share(img, [x, y, min(x + w, 63), min(y + h, 47)], colours["BA"[it["answer"]]])
        assert mine > 0.5 > theirs
        assert src["category"] in it["question"]
        answers.append(it["answer"])
    assert set(answers) == {0, 1}


def test_spatial_relation_from_coco_geometry(tmp_path, coco):
    ann, images = coco
    out = tmp_path / "sr"
    build_task("blink:Spatial_Relation", "coco", out, 10, 1, images=images, annotations=ann)
    items = read_items(out)
    for it in items:
        s = it["source"]
        sx, sy, sw, sh = s["subject_bbox"]
        ox, oy, ow, oh = s["object_bbox"]
        holds = {"left of": sx + sw <= ox, "right of": ox + ow <= sx, "above": sy + sh <= oy,
                 "below": oy + oh <= sy}[s["relation"]]
        assert it["choices"][it["answer"]] == ("yes" if holds else "no")
        assert f" {s['relation']} the " in it["question"]
    assert sum(it["answer"] == 0 for it in items) == 5  # yes/no balanced


def test_jigsaw_three_images_and_the_answer_is_the_missing_corner(tmp_path, capsys):
    photos = tmp_path / "photos"
    bf.image_folder(photos, 22, size=(80, 64))
    out = tmp_path / "jig"
    code, stdout, err = run_cli(["tasks", "build", "blink:Jigsaw", "--from", "images", "--images", str(photos),
                                 "--n", "20", "--out", str(out), "--format", "json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["n"] == 20
    for it in read_items(out):
        assert len(it["images"]) == 3 and it["choices"] == ["the second image", "the third image"]
        s = it["source"]
        full = Image.open(photos / s["file_name"]).convert("RGB").resize(tuple(s["resized_to"]), Image.BICUBIC)
        masked, *cands = [np.asarray(Image.open(out / p)) for p in it["images"]]
        truth = np.asarray(full.crop(tuple(s["missing_xyxy"])))
        assert np.array_equal(cands[it["answer"]], truth)
        assert not np.array_equal(cands[1 - it["answer"]], truth)
        h, w = masked.shape[:2]
        assert (masked[h // 2:, w // 2:] == 0).all() and masked[: h // 2].any()


def test_same_seed_same_bytes_other_seed_other_items(tmp_path, coco):
    ann, images = coco
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        build_task("blink:Counting", "coco", tmp_path / name, 8, seed, images=images, annotations=ann)
    a, b, c = ((tmp_path / x / "train.jsonl").read_bytes() for x in "abc")
    assert a == b and a != c
    assert (tmp_path / "a/images/000003_1.png").read_bytes() == (tmp_path / "b/images/000003_1.png").read_bytes()
    prov = json.loads((tmp_path / "a" / "provenance.json").read_text())
    assert prov["builder_version"] == "1" and prov["dataset"] == "coco"
    assert prov["inputs"]["dataset_version"] == "test"  # COCO's info.version
    assert list(prov["inputs"]["sha256"].values())[0] == __import__("hashlib").sha256(ann.read_bytes()).hexdigest()
    assert "status **unconfirmed**" in (tmp_path / "a" / "DATA_CARD.md").read_text()


@pytest.mark.parametrize("as_parquet", [False, True])
def test_leak_guard_drops_blink_copies(tmp_path, coco, as_parquet):
    ann, images = coco
    leaked = sorted(images.iterdir())[:5]
    # BLINK's copies: resized and re-encoded, as BLINK ships its images
    copies = [Image.open(p).convert("RGB").resize((96, 72), Image.BILINEAR) for p in leaked]
    if as_parquet:
        blink = bf.blink_parquet(tmp_path / "blink" / "val-0.parquet", copies)
    else:
        blink = tmp_path / "blink"
        blink.mkdir()
        for i, im in enumerate(copies):
            im.save(blink / f"{i}.jpg", quality=85)
    out = tmp_path / "ct"
    result = build_task("blink:Counting", "coco", out, 19, 0, images=images, annotations=ann, exclude_images=blink)
    used = {it["source"]["file_name"] for it in read_items(out)}
    assert not used & {p.name for p in leaked}
    assert result["leak_guard"]["source_images_dropped"] == 5
    assert sorted(result["leak_guard"]["dropped_source_images"]) == sorted(p.name for p in leaked)
    assert "5 source image(s)" in (out / "DATA_CARD.md").read_text()
    # 24 images, 5 leaked: 19 remain, so 20 items cannot be built, and nothing is written
    with pytest.raises(Exception, match="only 19 of n=20 items.*5 dropped by exclude_images="):
        build_task("blink:Counting", "coco", tmp_path / "ct2", 20, 0, images=images, annotations=ann,
                   exclude_images=blink)
    assert not (tmp_path / "ct2").exists() and not list(tmp_path.glob(".ct2*"))


def test_phash_matches_copies_not_other_images():
    a, b = bf.smooth_image(1), bf.smooth_image(2)
    dist = lambda x, y: bin(phash(x) ^ phash(y)).count("1")  # noqa: E731
    assert dist(a, a.resize((200, 150), Image.BICUBIC)) <= 4
    assert dist(a, b) > 16


def test_list_shows_every_task(capsys):
    code, out, _ = run_cli(["tasks", "build", "--list", "--format", "json"], capsys)
    assert code == 0
    rows = json.loads(out)
    assert {r["task"] for r in rows} == {f"blink:{t}" for t in BLINK_TASKS}
    for r in rows:
        assert r["status"] in ("faithful", "unconfirmed", "absent") and r["note"]
    assert {r["task"] for r in rows if r["status"] == "absent"} == {f"blink:{t}" for t in ABSENT}
    assert {"coco", "vsr"} <= {r["from"] for r in rows if r["task"] == "blink:Spatial_Relation"}
    code, out, _ = run_cli(["tasks", "build", "--list"], capsys)
    assert code == 0 and "Jigsaw" in out and "absent" in out
    assert len(builder_rows()) == len(BUILDERS) + len(ABSENT)


@pytest.mark.parametrize("args, message", [
    (["blink:Counting", "--from", "vsr"], "--from 'vsr' is not a source format of blink:Counting; allowed: coco"),
    (["blink:Functional_Correspondence", "--from", "funkpoint"], "has no builder: FunKPoint"),
    (["blink:Counting", "--from", "coco", "--images", "nowhere"], "--annotations is required"),
    (["blink:Nope", "--from", "coco"], "Nope"),
    (["synthetic:Counting", "--from", "coco"], "use blink:NAME"),
    (["blink:Jigsaw", "--from", "images", "--images", "nowhere"], "--images 'nowhere' does not exist"),
])
def test_bad_input_one_line_exit_2(tmp_path, capsys, args, message):
    code, _, err = run_cli(["tasks", "build", *args, "--n", "3", "--out", str(tmp_path / "o")], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "o").exists()


def test_refuses_foreign_folder_and_extra_inputs(tmp_path, coco, capsys):
    ann, images = coco
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(Exception, match="not an earlier build"):
        build_task("blink:Counting", "coco", foreign, 2, 0, images=images, annotations=ann)
    assert (foreign / "notes.txt").read_text() == "keep"
    with pytest.raises(Exception, match="path does not apply to blink:Counting with source_format=coco; it reads: annotations="):
        build_task("blink:Counting", "coco", tmp_path / "x", 2, 0, images=images, annotations=ann, path=images)
    code, _, err = run_cli(["tasks", "build", "blink:Counting", "--from", "coco"], capsys)
    assert code == 2 and "missing --out, --n" in err


def test_prompt_wording_is_blinks_long_instruction(tmp_path, coco):
    ann, images = coco
    build_task("blink:Object_Localization", "coco", tmp_path / "p", 2, 0, images=images, annotations=ann,
               wording="prompt")
    q = read_items(tmp_path / "p")[0]["question"]
    assert q.startswith("A bounding box is an annotated rectangle surrounding an object.") and q.endswith("dog?")


def test_cli_default_output_names_what_was_written(tmp_path, coco, capsys):
    ann, images = coco
    out = tmp_path / "ct"
    code, stdout, err = run_cli(["tasks", "build", "blink:CT", "--from", "coco", "--annotations", str(ann),
                                 "--images", str(images), "--n", "2", "--out", str(out)], capsys)
    assert code == 0, err
    assert f"wrote 2 items of blink:Counting (--from coco, seed 0, status unconfirmed) to {out}" in stdout
    assert "leak guard: not run" in stdout
    assert "not run (no --exclude-images)" in (out / "DATA_CARD.md").read_text()


def test_plural_of_category_names():
    from pgfselect.tasks.build.prompts import plural

    cases = {"person": "people", "bus": "buses", "traffic light": "traffic lights", "wine glass": "wine glasses",
             "toothbrush": "toothbrushes", "sheep": "sheep", "butterfly": "butterflies", "toy": "toys",
             "bow (weapon)": "bows (weapon)", "knife": "knives"}
    assert {k: plural(k) for k in cases} == cases


def test_progress_reports_hashing_then_building(tmp_path, coco):
    ann, images = coco
    blink = tmp_path / "blink"
    bf.image_folder(blink, 3, start=500)
    calls = []
    build_task("blink:Counting", "coco", tmp_path / "o", 4, 0, images=images, annotations=ann, exclude_images=blink,
               progress=lambda done, total, what: calls.append((done, total, what)))
    assert calls == [(1, 3, "hashing BLINK images"), (2, 3, "hashing BLINK images"), (3, 3, "hashing BLINK images")] + \
        [(k, 4, "building blink:Counting") for k in range(1, 5)]
