"""Leak guard: drop source images that are near-duplicates of BLINK's evaluation images.

A 64-bit DCT perceptual hash (pHash: the signs of the 8x8 lowest DCT frequencies of a 32x32
grey thumbnail against their median) survives resizing, re-encoding and mild colour shifts, which
is how a BLINK image relates to its source photo; it does not survive crops (BLINK's Jigsaw
pieces, Art_Style thumbnails are whole images, so the full image is what is compared). Two images
match when their hashes differ in at most ``MAX_DISTANCE`` bits. LIVR also uses CLIP retrieval and
SSIM; those need a model and are not done here (see the data cards).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ...errors import PGFSelectError

MAX_DISTANCE = 8  # of 64 bits; a re-encoded or resized copy differs in 0-4 bits
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".webp", ".tif", ".tiff")


def phash(img) -> int:
    from PIL import Image
    from scipy.fft import dctn

    grey = np.asarray(img.convert("L").resize((32, 32), Image.LANCZOS), dtype=np.float64)
    low = dctn(grey, norm="ortho")[:8, :8].ravel()
    bits = low > np.median(low[1:])  # the DC term is left out of the median: it is the mean brightness
    return int("".join("1" if b else "0" for b in bits), 2)


def _hash_bytes(data: bytes, where: str) -> int:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            return phash(im)
    except (OSError, UnidentifiedImageError) as exc:
        raise PGFSelectError(f"{where}: unreadable image: {exc}") from None


def _parquet_hashes(path: Path) -> list[int]:
    """Every image cell of a BLINK parquet file (columns image_1..image_4, {bytes, path} structs)."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise PGFSelectError(f"exclude_images {str(path)!r}: cannot read parquet: {exc}") from None
    cols = [c for c in table.column_names if c.startswith("image")]
    if not cols:
        raise PGFSelectError(f"exclude_images {str(path)!r}: no image columns (expected image_1..image_4)")
    out = []
    for col in cols:
        for i, cell in enumerate(table.column(col).to_pylist()):
            if cell and cell.get("bytes"):
                out.append(_hash_bytes(cell["bytes"], f"{path} row {i} column {col}"))
    return out


def load_exclusions(path: str | Path, progress=None) -> np.ndarray:
    """pHashes of every image under ``path``: a folder of image files and/or BLINK parquet files,
    or one parquet file. An empty result is an error: a guard that compares against nothing would
    silently let leaks through."""
    path = Path(path)
    if not path.exists():
        raise PGFSelectError(f"exclude_images {str(path)!r} does not exist; give a folder of BLINK images "
                             "or BLINK parquet files")
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    hashes: list[int] = []
    for k, f in enumerate(files, 1):
        suffix = f.suffix.lower()
        if suffix == ".parquet":
            hashes += _parquet_hashes(f)
        elif suffix in IMAGE_SUFFIXES:
            hashes.append(_hash_bytes(f.read_bytes(), str(f)))
        if progress:
            progress(k, len(files))
    if not hashes:
        raise PGFSelectError(f"exclude_images {str(path)!r} holds no images or parquet files "
                             f"(allowed: {', '.join(IMAGE_SUFFIXES)}, .parquet)")
    return np.array(hashes, dtype=np.uint64)


class LeakGuard:
    """Remembers each source image's verdict (sources are reused across items)."""

    def __init__(self, excluded: np.ndarray | None):
        self.excluded = excluded
        self.verdicts: dict[str, bool] = {}

    def leaks(self, key: str, load) -> bool:
        """True when the image ``load()`` (cached under ``key``) matches an excluded image."""
        if self.excluded is None:
            return False
        if key not in self.verdicts:
            h = np.uint64(phash(load()))
            x = np.bitwise_xor(self.excluded, h)
            dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
            self.verdicts[key] = bool((dist <= MAX_DISTANCE).any())
        return self.verdicts[key]

    @property
    def dropped(self) -> list[str]:
        return sorted(k for k, v in self.verdicts.items() if v)
