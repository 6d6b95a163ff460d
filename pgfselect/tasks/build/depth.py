"""blink:Relative_Depth from image + depth-map pairs (two marked points: which is closer)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import PGFSelectError
from .base import Built, Context, open_rgb, register, shuffled_choices
from .draw import limit_size, mark_points
from .images import folder_images
from .prompts import CHOICES, question

MIN_RATIO = 1.15  # the farther point is at least 15% farther: near-ties are not asked (ours, not BLINK's)


def read_depth(path: Path) -> np.ndarray:
    """A depth map as float (larger = farther; 0, NaN or inf = no measurement): ``.npy`` (any
    units) or a 16-bit/8-bit ``.png`` (units do not matter for an ordering)."""
    try:
        if path.suffix == ".npy":
            d = np.load(path, allow_pickle=False)
        else:
            from PIL import Image

            with Image.open(path) as im:
                d = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise PGFSelectError(f"{path}: cannot read depth map: {exc}") from None
    d = np.squeeze(np.asarray(d, dtype=np.float64))
    if d.ndim != 2:
        raise PGFSelectError(f"{path}: a depth map must be one channel (H x W); got shape {d.shape}")
    return d


def _depth_file(depth_dir: Path, rel: Path) -> Path | None:
    for suffix in (".npy", ".png"):
        p = depth_dir / rel.with_suffix(suffix)
        if p.is_file():
            return p
    return None


def pick_points(depth: np.ndarray, rng, tries: int = 60):
    """Two valid pixels (x, y) of ``depth``, apart and away from the border, whose depths differ by
    at least MIN_RATIO; None when none is found."""
    h, w = depth.shape
    mx, my = max(1, w // 20), max(1, h // 20)
    for _ in range(tries):
        (xa, xb), (ya, yb) = rng.integers(mx, w - mx, 2), rng.integers(my, h - my, 2)
        da, db = depth[ya, xa], depth[yb, xb]
        if not (np.isfinite(da) and np.isfinite(db) and da > 0 and db > 0):
            continue
        if np.hypot(xa - xb, ya - yb) < 0.1 * np.hypot(w, h) or max(da, db) < MIN_RATIO * min(da, db):
            continue
        return (int(xa), int(ya), float(da)), (int(xb), int(yb), float(db))
    return None


def _depth_item(ctx: Context, load, depth: np.ndarray, source: dict, key: str) -> Built | None:
    """Two marked points on ``load()``'s image and which is closer; None (skip) when ``depth`` has
    no suitable pair."""
    picked = pick_points(depth, ctx.rng)
    if picked is None:
        ctx.skipped["no two valid points with distinct depth"] += 1
        return None
    (pa, pb), _ = shuffled_choices(ctx.rng, picked[0], [picked[1]])  # which point is labelled A
    answer = 0 if pa[2] < pb[2] else 1  # "A is closer" when A has the smaller depth

    def render(shape=depth.shape):
        img = limit_size(load())
        # depth pixel centre -> image pixel (a depth map may be smaller than its image)
        pts = [((p[0] + 0.5) * img.width / shape[1], (p[1] + 0.5) * img.height / shape[0]) for p in (pa, pb)]
        return [mark_points(img, pts, ["A", "B"])]

    return Built(render=render, question=question("Relative_Depth", ctx.wording),
                 choices=list(CHOICES["Relative_Depth"]), answer=answer,
                 source={**source, "points_depth_px": {"A": list(pa[:2]), "B": list(pb[:2])},
                         "depth": {"A": pa[2], "B": pb[2]}},
                 originals=[(key, load)])


DEPTH_NOTE = ("BLINK's Relative_Depth source is UNCONFIRMED (DIW is a recollection). Two points are drawn at "
              "random where depth is measured, at least 10% of the diagonal apart, and the farther one at least "
              "15% farther (our near-tie rule); depth must be depth, not disparity")


@register("Relative_Depth", "depth-pairs", status="unconfirmed", needs=("images", "path"), dataset="depth-pairs",
          layout="images=a folder of RGB images; path=a folder of depth maps with the same relative names "
                 "(.npy float, or 16-bit .png; larger = farther; 0 = missing)",
          cites="NYU Depth v2 labelled set (depths in metres; see ../shared/notes/blink-sources.md section 8)",
          note=DEPTH_NOTE, license="that of the depth dataset")
def depth_pairs(ctx: Context):
    folder, files = folder_images(ctx, "images", "a folder of RGB images")
    depth_dir = ctx.need("path", "a folder of depth maps named like the images (.npy or .png)")
    for idx in ctx.visits(len(files)):
        f = files[idx]
        rel = f.relative_to(folder)
        dpath = _depth_file(depth_dir, rel)
        if dpath is None:
            ctx.skipped["no depth map"] += 1
            continue
        item = _depth_item(ctx, lambda f=f: open_rgb(f), read_depth(dpath),
                           {"dataset": "depth-pairs", "file_name": rel.as_posix(),
                            "depth_file": dpath.relative_to(depth_dir).as_posix()}, rel.as_posix())
        if item is not None:
            yield item


@register("Relative_Depth", "nyu", status="unconfirmed", needs=("path", "annotations"), dataset="nyu-depth-v2",
          layout="path=nyu_depth_v2_labeled.mat (MATLAB v7.3 / HDF5); annotations=splits.mat (trainNdxs: "
                 "only the 795 training frames are used); needs h5py (pip install 'pgfselect[build]')",
          cites="NYU Depth v2 labelled set; the array layout read here (h5py: images N x 3 x W x H uint8, depths "
                "N x W x H metres, the transpose of MATLAB's H x W x 3 x N) is UNCONFIRMED, from memory",
          note=DEPTH_NOTE + "; the .mat layout is UNCONFIRMED (checked: shapes must be N x 3 x W x H and N x W x H)",
          license="NYU Depth v2: UNCONFIRMED")
def nyu(ctx: Context):
    mat = ctx.need("path", "nyu_depth_v2_labeled.mat")
    splits = ctx.need("annotations", "NYU's splits.mat (with trainNdxs)")
    try:
        import h5py
    except ImportError:
        raise PGFSelectError("source_format nyu reads nyu_depth_v2_labeled.mat with h5py: pip install "
                             "'pgfselect[build]' (or write its frames out as image + depth pairs and use "
                             "source_format=depth-pairs)") from None
    from PIL import Image
    from scipy.io import loadmat

    try:
        train = sorted(int(i) - 1 for i in np.ravel(loadmat(splits)["trainNdxs"]))  # MATLAB's 1-based indices
    except (OSError, ValueError, KeyError) as exc:
        raise PGFSelectError(f"annotations {str(splits)!r}: not NYU's splits.mat with trainNdxs: {exc}") from None
    ctx.record_file(splits)
    try:
        fh = h5py.File(mat, "r")
    except OSError as exc:
        raise PGFSelectError(f"path {str(mat)!r}: not an HDF5 (MATLAB v7.3) file: {exc}") from None
    with fh:
        images, depths = fh.get("images"), fh.get("depths")
        if images is None or depths is None or images.ndim != 4 or images.shape[1] != 3 \
                or depths.shape != (images.shape[0], *images.shape[2:]):
            raise PGFSelectError(f"path {str(mat)!r}: expected datasets images (N x 3 x W x H) and depths "
                                 f"(N x W x H); got {images and images.shape} and {depths and depths.shape}")
        if images.shape[2] <= images.shape[3]:  # NYU frames are 640 wide, 480 tall: W x H must be landscape
            raise PGFSelectError(f"path {str(mat)!r}: images are {images.shape[2]} x {images.shape[3]} after "
                                 "undoing MATLAB's transpose, not landscape as NYU's 640 x 480 frames; the file's "
                                 "layout is not the one this reader knows")
        train = [i for i in train if 0 <= i < images.shape[0]]
        for idx in ctx.visits(len(train)):
            i = train[idx]

            def load(i=i):
                return Image.fromarray(np.ascontiguousarray(np.asarray(images[i]).transpose(2, 1, 0)))

            item = _depth_item(ctx, load, np.asarray(depths[i], dtype=np.float64).T,
                               {"dataset": "nyu-depth-v2", "image_id": i, "file_name": mat.name}, f"nyu/{i}")
            if item is not None:
                yield item
