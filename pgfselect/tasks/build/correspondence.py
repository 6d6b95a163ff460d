"""Point correspondence across two images (REF on the first, A-D on the second):
blink:Semantic_Correspondence from SPair-71k, blink:Visual_Correspondence from HPatches."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import PGFSelectError
from .base import Built, Context, image_size, open_rgb, register, shuffled_choices
from .draw import limit_size, mark_points
from .prompts import CHOICES, question

LABELS = ["A", "B", "C", "D"]
MIN_APART = 0.08  # candidate points at least this share of the image diagonal apart (ours)


def _render_pair(first: Path, second: Path, ref, points):
    """REF marked on ``first``, the four candidates A-D on ``second`` (coordinates in source pixels)."""
    def render():
        a, b = limit_size(open_rgb(first)), limit_size(open_rgb(second))
        sa, sb = a.info["scale"], b.info["scale"]
        return [mark_points(a, [(ref[0] * sa, ref[1] * sa)], ["REF"]),
                mark_points(b, [(x * sb, y * sb) for x, y in points], LABELS)]
    return render


def _apart(points, diag: float) -> bool:
    return all(np.hypot(p[0] - q[0], p[1] - q[1]) >= MIN_APART * diag for i, p in enumerate(points)
               for q in points[i + 1:])


def _kps(value, where: str) -> list:
    """SPair keypoints as a list of (x, y): the files list [x, y] pairs."""
    pts = [tuple(float(v) for v in p) for p in value]
    if any(len(p) != 2 for p in pts):
        raise PGFSelectError(f"{where}: keypoints must be [x, y] pairs")
    return pts


@register("Semantic_Correspondence", "spair", status="unconfirmed", needs=("path",), dataset="spair-71k",
          layout="path=the SPair-71k folder (JPEGImages/<category>/, PairAnnotation/trn/*.json)",
          cites="SPair-71k (cvlab.postech.ac.kr/research/SPair-71k/); DHPF/CATs-style loaders for the pair fields",
          note="BLINK's Semantic_Correspondence is derived from SPair-71k [C3, via LIVR]; the split BLINK used "
               "is UNCONFIRMED (only trn is read here) and the pair-file fields (src_imname, trg_imname, "
               "src_kps, trg_kps, category) follow third-party loaders. The REF keypoint k of the source image; "
               "the answer is keypoint k of the target image; distractors are 3 other keypoints of the target",
          license="SPair-71k: UNCONFIRMED (images from PASCAL VOC / Flickr)")
def spair(ctx: Context):
    root = ctx.need("path", "the SPair-71k folder")
    pairs = sorted((root / "PairAnnotation" / "trn").glob("*.json"))
    if not pairs:
        raise PGFSelectError(f"path {str(root)!r} has no PairAnnotation/trn/*.json (SPair-71k layout)")
    for idx in ctx.visits(len(pairs)):
        where = str(pairs[idx])
        try:
            doc = json.loads(pairs[idx].read_text())
            cat, src, trg = doc["category"], doc["src_imname"], doc["trg_imname"]
            skp, tkp = _kps(doc["src_kps"], where), _kps(doc["trg_kps"], where)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise PGFSelectError(f"{where}: not a SPair-71k pair file: {type(exc).__name__}: {exc}") from None
        if len(skp) != len(tkp) or len(tkp) < 4:
            ctx.skipped["fewer than 4 shared keypoints"] += 1
            continue
        k = int(ctx.rng.integers(len(tkp)))
        others = [int(i) for i in ctx.rng.permutation([i for i in range(len(tkp)) if i != k])][:3]
        src_path, trg_path = root / "JPEGImages" / cat / src, root / "JPEGImages" / cat / trg
        diag = float(np.hypot(*image_size(trg_path)))
        if not _apart([tkp[k]] + [tkp[i] for i in others], diag):
            ctx.skipped["candidate keypoints too close together"] += 1
            continue
        points, answer = shuffled_choices(ctx.rng, tkp[k], [tkp[i] for i in others])
        ids = doc.get("kps_ids")
        yield Built(render=_render_pair(src_path, trg_path, skp[k], points),
                    question=question("Semantic_Correspondence", ctx.wording),
                    choices=list(CHOICES["Semantic_Correspondence"]), answer=answer,
                    source={"dataset": "spair-71k", "file_name": f"{cat}/{src}", "target_file_name": f"{cat}/{trg}",
                            "pair": pairs[idx].name, "keypoint_index": k,
                            **({"keypoint_id": ids[k]} if isinstance(ids, list) and len(ids) > k else {}),
                            "ref_xy": list(skp[k]), "points_xy": dict(zip(LABELS, map(list, points)))},
                    originals=[(f"{cat}/{n}", lambda p=p: open_rgb(p)) for n, p in ((src, src_path), (trg, trg_path))])


def read_homography(path: Path) -> np.ndarray:
    try:
        H = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise PGFSelectError(f"{path}: cannot read a 3x3 homography: {exc}") from None
    if H.shape != (3, 3):
        raise PGFSelectError(f"{path}: a homography must be 3x3 numbers; got shape {H.shape}")
    return H


def warp(H: np.ndarray, xy) -> tuple[float, float]:
    """Pixel (x, y) of image 1 -> image k through ``H_1_k`` (homogeneous coordinates)."""
    v = H @ np.array([xy[0], xy[1], 1.0])
    return float(v[0] / v[2]), float(v[1] / v[2])


@register("Visual_Correspondence", "hpatches", status="faithful", needs=("path",), dataset="hpatches",
          layout="path=hpatches-sequences-release/ (<seq>/1.ppm..6.ppm and H_1_2..H_1_6)",
          cites="hpatches/hpatches-dataset README (sequence layout, H_1_k maps image 1 to image k)",
          note="BLINK's Visual_Correspondence is derived from HPatches [C3, via LIVR], as here: a REF point on "
               "image 1 warped through the ground-truth homography to image k is the answer; 3 distractors lie "
               "on image k, apart from it and each other. HPatches has no train split and BLINK used it: pass "
               "exclude_images=DIR with BLINK's images (whole sequences whose images match are then dropped "
               "image by image; check the recorded sequences)",
          license="HPatches: UNCONFIRMED")
def hpatches(ctx: Context):
    root = ctx.need("path", "the hpatches-sequences-release folder")
    seqs = sorted(p for p in root.iterdir() if p.is_dir() and (p / "1.ppm").is_file())
    if not seqs:
        raise PGFSelectError(f"path {str(root)!r} has no <seq>/1.ppm folders (hpatches-sequences-release layout)")
    for idx in ctx.visits(len(seqs)):
        seq = seqs[idx]
        targets = [k for k in range(2, 7) if (seq / f"{k}.ppm").is_file() and (seq / f"H_1_{k}").is_file()]
        if not targets:
            ctx.skipped["no image k with H_1_k"] += 1
            continue
        k = targets[int(ctx.rng.integers(len(targets)))]
        H = read_homography(seq / f"H_1_{k}")
        (w1, h1), (w2, h2) = image_size(seq / "1.ppm"), image_size(seq / f"{k}.ppm")
        found = None
        for _ in range(60):
            ref = (float(ctx.rng.uniform(0.1, 0.9) * w1), float(ctx.rng.uniform(0.1, 0.9) * h1))
            gold = warp(H, ref)
            if not (0.05 * w2 <= gold[0] <= 0.95 * w2 and 0.05 * h2 <= gold[1] <= 0.95 * h2):
                continue
            wrong = [(float(ctx.rng.uniform(0.05, 0.95) * w2), float(ctx.rng.uniform(0.05, 0.95) * h2))
                     for _ in range(3)]
            if _apart([gold, *wrong], float(np.hypot(w2, h2))):
                found = ref, gold, wrong
                break
        if found is None:
            ctx.skipped["no REF point visible in image k"] += 1
            continue
        ref, gold, wrong = found
        points, answer = shuffled_choices(ctx.rng, gold, wrong)
        name = seq.name
        ctx.record_file(seq / f"H_1_{k}")
        yield Built(render=_render_pair(seq / "1.ppm", seq / f"{k}.ppm", ref, points),
                    question=question("Visual_Correspondence", ctx.wording),
                    choices=list(CHOICES["Visual_Correspondence"]), answer=answer,
                    source={"dataset": "hpatches", "sequence": name, "file_name": f"{name}/1.ppm",
                            "target_file_name": f"{name}/{k}.ppm", "ref_xy": list(ref),
                            "points_xy": dict(zip(LABELS, map(list, points)))},
                    originals=[(f"{name}/{f}", lambda p=seq / f: open_rgb(p)) for f in ("1.ppm", f"{k}.ppm")])
