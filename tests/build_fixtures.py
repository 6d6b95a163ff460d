"""Tiny source datasets in their official on-disk layouts, written by the tests themselves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def smooth_image(seed: int, size=(64, 48)) -> Image.Image:
    """A distinct, smooth random picture (blobs): stable under resizing, so pHash can find its copies."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    return small.resize(size, Image.BICUBIC)


def image_folder(folder: Path, n: int, size=(64, 48), start: int = 0, suffix: str = ".png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"{start + i:012d}{suffix}"
        smooth_image(start + i, size).save(p)
        out.append(p)
    return out


CATEGORIES = [{"id": 1, "name": "cat", "supercategory": "animal"}, {"id": 2, "name": "dog", "supercategory": "animal"},
              {"id": 3, "name": "person", "supercategory": "person"},
              {"id": 4, "name": "bird", "supercategory": "animal"}]


def coco(root: Path, n_images: int = 24) -> tuple[Path, Path]:
    """``annotations/instances_train.json`` + ``train/`` in COCO's instances format: 1-5 small cats,
    one large dog (a 25% box, mask 80% of it), a bird right of and below it, a crowd person in
    every third image and, in every fourth, a crowd cat (so cats there are not countable)."""
    images_dir = root / "train"
    files = image_folder(images_dir, n_images)
    images, anns = [], []
    rng = np.random.default_rng(7)
    for i, f in enumerate(files):
        images.append({"id": 1000 + i, "file_name": f.name, "width": 64, "height": 48})

        def add(cat, bbox, crowd=0):
            anns.append({"id": len(anns) + 1, "image_id": 1000 + i, "category_id": cat, "bbox": bbox,
                         "area": 0.8 * bbox[2] * bbox[3], "iscrowd": crowd, "segmentation": []})

        for k in range(int(rng.integers(1, 6))):
            add(1, [2.0 + 6 * k, 2.0, 5.0, 5.0])
        add(2, [float(rng.integers(8, 20)), float(rng.integers(10, 14)), 32.0, 24.0])
        add(4, [56.0, 40.0, 6.0, 6.0])  # right of and below the dog: Spatial_Relation geometry
        if i % 3 == 0:
            add(3, [40.0, 0.0, 20.0, 10.0], crowd=1)
        if i % 4 == 1:
            add(1, [0.0, 30.0, 10.0, 10.0], crowd=1)
    ann = root / "annotations" / "instances_train.json"
    ann.parent.mkdir(parents=True)
    ann.write_text(json.dumps({"info": {"version": "test"}, "images": images, "annotations": anns,
                               "categories": CATEGORIES}))
    return ann, images_dir


def blink_parquet(path: Path, images: list[Image.Image]) -> Path:
    """A BLINK-style parquet file (image_1 as {bytes, path} structs), as the hub ships it."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    cells = []
    for i, img in enumerate(images):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=90)
        cells.append({"bytes": buf.getvalue(), "path": f"{i}.jpg"})
    table = pa.table({"idx": [f"val_X_{i}" for i in range(len(images))], "image_1": cells})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path
