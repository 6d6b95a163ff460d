"""tasks build from the other source families, each on a tiny fixture in the dataset's own layout;
the rendered prompts are checked against the answer."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import build_fixtures as bf
from pgfselect.tasks import get_task
from pgfselect.tasks.build import build_task
from pgfselect.tasks.build.correspondence import warp
from pgfselect.tasks.build.spatial import parse_caption

RED = (255, 0, 0)


def read_items(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]


def red_near(img: Image.Image, xy, radius: int = 7) -> bool:
    """A pure-red marker pixel within ``radius`` px of ``xy``."""
    px = np.asarray(img.convert("RGB")).astype(int)
    x, y = int(round(xy[0])), int(round(xy[1]))
    win = px[max(0, y - radius): y + radius + 1, max(0, x - radius): x + radius + 1]
    return bool(((win[..., 0] == 255) & (win[..., 1] == 0) & (win[..., 2] == 0)).any())


def test_relative_depth_closer_point_has_smaller_depth(tmp_path):
    images = tmp_path / "rgb"
    files = bf.image_folder(images, 8)
    depth = tmp_path / "depth"
    depth.mkdir()
    rng = np.random.default_rng(0)
    for i, f in enumerate(files):
        d = 1.0 + 4.0 * np.linspace(0, 1, 64)[None, :] * np.ones((48, 1)) + rng.uniform(0, 0.2, (48, 64))
        d[:5] = 0  # no measurement in the top rows
        if i % 2:
            np.save(depth / f.with_suffix(".npy").name, d)
        else:  # a 16-bit PNG in millimetres, as NYU-style exports write them
            Image.fromarray((d * 1000).astype(np.uint16)).save(depth / f.name)
    out = tmp_path / "rd"
    build_task("blink:Relative_Depth", "depth-pairs", out, 12, 0, images=images, path=depth)  # 8 images: revisits
    answers = []
    for it in read_items(out):
        s = it["source"]
        dpath = depth / s["depth_file"]
        dm = np.load(dpath) if dpath.suffix == ".npy" else np.asarray(Image.open(dpath), dtype=float)
        (xa, ya), (xb, yb) = s["points_depth_px"]["A"], s["points_depth_px"]["B"]
        closer = "A" if dm[ya, xa] < dm[yb, xb] else "B"
        assert it["choices"][it["answer"]] == f"{closer} is closer"
        assert dm[ya, xa] > 0 and dm[yb, xb] > 0
        img = Image.open(out / it["images"][0])
        assert red_near(img, (xa + 0.5, ya + 0.5)) and red_near(img, (xb + 0.5, yb + 0.5))
        answers.append(it["answer"])
    assert set(answers) == {0, 1}


def test_relative_reflectance_from_iiw(tmp_path):
    data = tmp_path / "iiw" / "data"
    for i, f in enumerate(bf.image_folder(data, 6)):
        points = [{"id": 10 + k, "x": 0.2 + 0.15 * k, "y": 0.3 + 0.1 * k, "opaque": k != 3} for k in range(4)]
        comps = [{"id": 1, "point1": 10, "point2": 11, "darker": "1", "darker_score": 0.9},
                 {"id": 2, "point1": 11, "point2": 12, "darker": "E", "darker_score": 0.7},
                 {"id": 3, "point1": 12, "point2": 10, "darker": "2", "darker_score": 0.8},
                 {"id": 4, "point1": 10, "point2": 13, "darker": "1", "darker_score": 1.0},  # 13 is not opaque
                 {"id": 5, "point1": 10, "point2": 12, "darker": "1", "darker_score": 0.0}]  # no weight
        f.with_suffix(".json").write_text(json.dumps({"intrinsic_points": points, "intrinsic_comparisons": comps}))
    out = tmp_path / "rr"
    build_task("blink:Relative_Reflectance", "iiw", out, 6, 2, path=data)
    for it in read_items(out):
        c, labels = it["source"]["comparison"], it["source"]["labels"]
        assert c["id"] in (1, 2, 3)
        darker_point = {"1": c["point1"], "2": c["point2"]}.get(c["darker"])
        expected = "About the same" if darker_point is None else \
            f"{'A' if labels['A'] == darker_point else 'B'} is darker"
        assert it["choices"][it["answer"]] == expected and len(it["choices"]) == 3
        img = Image.open(out / it["images"][0])
        pts = {10 + k: (0.2 + 0.15 * k, 0.3 + 0.1 * k) for k in range(4)}
        for label in "AB":
            x, y = pts[labels[label]]
            assert red_near(img, (x * 64, y * 48))


def _spair(root: Path) -> None:
    img_dir = root / "JPEGImages" / "cat"
    bf.image_folder(img_dir, 4, size=(100, 80), suffix=".jpg")
    names = sorted(p.name for p in img_dir.iterdir())
    pair_dir = root / "PairAnnotation" / "trn"
    pair_dir.mkdir(parents=True)
    for i in range(3):
        src, trg = names[i], names[i + 1]
        kps = [[10 + 20 * k, 10 + 15 * k] for k in range(5)]
        doc = {"src_imname": src, "trg_imname": trg, "category": "cat", "src_kps": kps,
               "trg_kps": [[x + 5, y + 3] for x, y in kps], "kps_ids": ["0", "1", "2", "3", "4"],
               "src_bndbox": [0, 0, 99, 79], "trg_bndbox": [0, 0, 99, 79]}
        (pair_dir / f"{i}-{src[:-4]}-{trg[:-4]}:cat.json").write_text(json.dumps(doc))


def test_semantic_correspondence_answer_is_the_same_keypoint(tmp_path):
    _spair(tmp_path / "SPair-71k")
    out = tmp_path / "sc"
    build_task("blink:Semantic_Correspondence", "spair", out, 3, 0, path=tmp_path / "SPair-71k")
    for it in read_items(out):
        s = it["source"]
        k = s["keypoint_index"]
        assert s["ref_xy"] == [10 + 20 * k, 10 + 15 * k]
        assert s["points_xy"]["ABCD"[it["answer"]]] == [15 + 20 * k, 13 + 15 * k]
        assert it["choices"] == ["Point A", "Point B", "Point C", "Point D"]
        first, second = (Image.open(out / p) for p in it["images"])
        assert red_near(first, s["ref_xy"])
        assert all(red_near(second, xy) for xy in s["points_xy"].values())


def test_visual_correspondence_answer_is_the_warped_point(tmp_path):
    root = tmp_path / "hpatches-sequences-release"
    for j, seq in enumerate(("v_one", "i_two")):
        d = root / seq
        d.mkdir(parents=True)
        for k in range(1, 4):
            bf.smooth_image(10 * j + k, (120, 90)).save(d / f"{k}.ppm")
        for k in (2, 3):
            H = np.array([[0.9, 0.05, 4.0 * k], [0.0, 0.95, 2.0], [0.0, 0.0005, 1.0]])
            np.savetxt(d / f"H_1_{k}", H)
    out = tmp_path / "vc"
    build_task("blink:Visual_Correspondence", "hpatches", out, 6, 4, path=root)  # 3 per sequence: revisits
    items = read_items(out)
    assert {it["source"]["sequence"] for it in items} == {"v_one", "i_two"}
    assert len({tuple(it["source"]["ref_xy"]) for it in items}) == 6
    for it in items:
        s = it["source"]
        k = int(s["target_file_name"].split("/")[1][0])
        H = np.loadtxt(root / s["sequence"] / f"H_1_{k}")
        gold = warp(H, s["ref_xy"])
        assert np.allclose(s["points_xy"]["ABCD"[it["answer"]]], gold)
        second = Image.open(out / it["images"][1])
        assert second.size == (120, 90) and red_near(second, gold)


def test_spatial_relation_from_vsr(tmp_path):
    images = tmp_path / "images"
    files = bf.image_folder(images, 6, suffix=".jpg")
    lines = []
    for i, f in enumerate(files):
        rel = ["under", "at the right side of", "in front of"][i % 3]
        lines.append({"image": f.name, "image_link": "", "caption": f"The cat is {rel} the dog.", "label": i % 2,
                      "relation": rel, "annotator_id": 1, "vote_true_validator_id": [], "vote_false_validator_id": []})
    lines.append({**lines[0], "caption": "The cat has as a part the tail.", "relation": "has as a part"})
    ann = tmp_path / "train.jsonl"
    ann.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "sr"
    result = build_task("blink:Spatial_Relation", "vsr", out, 6, 0, annotations=ann, images=images)
    assert result["skipped"] == {"caption not 'The X is <relation> the Y.'": 1}
    for it in read_items(out):
        s = it["source"]
        m = parse_caption(s["caption"], lines[s["line"] - 1]["relation"])
        assert it["question"] == f"Is the cat {m['rel']} the dog?"
        assert it["choices"][it["answer"]] == ("yes" if s["label"] == 1 else "no")
        assert s["image_id"] == int(s["file_name"][:-4])


def test_art_style_same_class_candidate_is_the_answer(tmp_path):
    root = tmp_path / "artbench" / "train"
    for c, style in enumerate(("impressionism", "cubism", "baroque")):
        bf.image_folder(root / style, 3, start=10 * c)
    out = tmp_path / "as"
    build_task("blink:Art_Style", "imagefolder", out, 6, 0, images=root)
    for it in read_items(out):
        s = it["source"]
        assert s["candidate_classes"][it["answer"]] == s["class"] != s["candidate_classes"][1 - it["answer"]]
        assert len(it["images"]) == 3
        ref = np.asarray(Image.open(out / it["images"][0]))
        assert np.array_equal(ref, np.asarray(Image.open(root / s["file_name"]).convert("RGB")))


def test_art_style_from_wikiart_csv(tmp_path):
    root = tmp_path / "wikiart"
    rows = []
    for c, style in enumerate(("Impressionism", "Cubism")):
        for p in bf.image_folder(root / style, 3, start=10 * c, suffix=".jpg"):
            rows.append([f"{style}/{p.name}", str(c)])
    table = tmp_path / "Style_train.csv"
    with open(table, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (tmp_path / "Style_class.txt").write_text("0 Impressionism\n1 Cubism\n")
    out = tmp_path / "ws"
    build_task("blink:Art_Style", "wikiart", out, 4, 1, path=root, annotations=table)
    for it in read_items(out):
        s = it["source"]
        assert s["class"] == s["file_name"].split("/")[0] == s["candidates"][it["answer"]].split("/")[0]


@pytest.mark.parametrize("p_column", ["right_vote", "left_vote", "p"])
def test_visual_similarity_from_nights(tmp_path, p_column):
    root = tmp_path / "nights"
    rows = [["id", "prompt", p_column, "other", "ref_path", "left_path", "right_path", "votes", "split"]]
    for i in range(6):
        ref, left, right = (f"ref/000/{i:03d}.png", f"distort/000/{i:03d}_0.png", f"distort/000/{i:03d}_1.png")
        for j, rel in enumerate((ref, left, right)):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            bf.smooth_image(10 * i + j).save(root / rel)
        rows.append([str(i), "An image of a cat", str(i % 2), "0", ref, left, right, "6" if i < 5 else "4",
                     "train" if i != 2 else "test"])
    with open(root / "data.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path / "vs"
    if p_column == "p":  # a name whose direction is unknown: refused, not guessed
        with pytest.raises(Exception, match="column 2 .* is named 'p'"):
            build_task("blink:Visual_Similarity", "nights", out, 4, 0, path=root)
        return
    build_task("blink:Visual_Similarity", "nights", out, 4, 0, path=root)
    items = read_items(out)
    assert sorted(int(it["source"]["image_id"]) for it in items) == [0, 1, 3, 4]  # 2: test split; 5: votes < 6
    for it in items:
        s = it["source"]
        chosen = s["candidates"][it["answer"]]
        right_preferred = (s["p"] == 1) == (p_column == "right_vote")
        assert chosen.endswith("_1.png" if right_preferred else "_0.png")


def test_forensic_real_photo_is_the_answer(tmp_path):
    real = tmp_path / "real"
    fake = tmp_path / "fake"
    bf.image_folder(real, 4)
    bf.image_folder(fake, 5, start=50)
    out = tmp_path / "fd"
    build_task("blink:Forensic_Detection", "real-generated", out, 4, 0, images=real, path=fake)
    task = get_task(f"custom:{out}/task.yaml")
    assert task.n_choices == 4 and task.n_images == 4
    for it in read_items(out):
        shown = np.asarray(Image.open(out / it["images"][it["answer"]]))
        assert np.array_equal(shown, np.asarray(Image.open(real / it["source"]["file_name"]).convert("RGB")))
        assert len(set(it["source"]["generated"])) == 3


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not a SPair-71k pair file"),
    (json.dumps({"src_imname": "a.jpg"}), "not a SPair-71k pair file: KeyError"),
])
def test_malformed_source_file_names_the_file(tmp_path, bad, message):
    root = tmp_path / "SPair-71k"
    (root / "PairAnnotation" / "trn").mkdir(parents=True)
    (root / "PairAnnotation" / "trn" / "0-a-b:cat.json").write_text(bad)
    with pytest.raises(Exception, match=message):
        build_task("blink:Semantic_Correspondence", "spair", tmp_path / "o", 1, 0, path=root)
    assert not (tmp_path / "o").exists()


def test_relative_depth_from_nyu_mat(tmp_path):
    h5py = pytest.importorskip("h5py")
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    rgb = np.stack([np.asarray(bf.smooth_image(i)) for i in range(6)])  # N x H x W x 3
    depth = 1.0 + rng.uniform(0, 5, (6, 48, 64))
    mat = tmp_path / "nyu_depth_v2_labeled.mat"
    with h5py.File(mat, "w") as f:  # h5py sees MATLAB's H x W x 3 x N arrays transposed
        f["images"] = rgb.transpose(0, 3, 2, 1)
        f["depths"] = depth.transpose(0, 2, 1)
    splits = tmp_path / "splits.mat"
    savemat(splits, {"trainNdxs": np.array([[1], [2], [4], [5]]), "testNdxs": np.array([[3], [6]])})
    out = tmp_path / "nyu"
    build_task("blink:Relative_Depth", "nyu", out, 8, 0, path=mat, annotations=splits)
    items = read_items(out)
    assert {it["source"]["image_id"] for it in items} <= {0, 1, 3, 4}  # training frames only (0-based)
    for it in items:
        s = it["source"]
        d = depth[s["image_id"]]
        (xa, ya), (xb, yb) = s["points_depth_px"]["A"], s["points_depth_px"]["B"]
        assert it["choices"][it["answer"]] == ("A is closer" if d[ya, xa] < d[yb, xb] else "B is closer")
        img = Image.open(out / it["images"][0])
        assert img.size == (64, 48) and red_near(img, (xa + 0.5, ya + 0.5))
        # away from the markers (circle + label) the picture is the frame itself: the transpose was undone
        yy, xx = np.mgrid[:48, :64]
        far = (np.hypot(xx - xa, yy - ya) > 24) & (np.hypot(xx - xb, yy - yb) > 24)
        assert far.sum() > 100
        assert np.abs(np.asarray(img).astype(int) - rgb[s["image_id"]])[far].max() <= 1
