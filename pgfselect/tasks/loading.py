"""Reading images and reporting library errors for the BLINK and custom-task loaders."""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

from ..errors import PGFSelectError


def to_pil(value, where: str):
    """A decoded ``datasets`` image, or the raw ``{"bytes", "path"}`` struct of a parquet file
    written without datasets' feature metadata, as an RGB PIL image."""
    from PIL import Image, UnidentifiedImageError

    try:
        if isinstance(value, Image.Image):
            return value.convert("RGB")
        if isinstance(value, dict) and value.get("bytes"):
            return Image.open(io.BytesIO(value["bytes"])).convert("RGB")
        if isinstance(value, dict) and value.get("path"):
            return Image.open(value["path"]).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise PGFSelectError(f"{where}: unreadable image: {exc}") from None
    raise PGFSelectError(f"{where}: not an image (got {type(value).__name__})")


def open_image(path: Path, where: str):
    """The image file at ``path`` as RGB; missing or unreadable files are user errors."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except FileNotFoundError:
        raise PGFSelectError(f"{where}: image {str(path)!r} does not exist") from None
    except (OSError, UnidentifiedImageError) as exc:
        raise PGFSelectError(f"{where}: cannot read image {str(path)!r}: {exc}") from None


def first_line(exc: Exception) -> str:
    """``Type: first line of the message``: library errors can span many lines."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


@contextmanager
def quiet_datasets():
    """Silence ``datasets``' progress bars while loading (they would mix with --format json
    consumers' stderr and the CLI's own progress), then restore the caller's setting."""
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield datasets
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def path_inside(base: Path, rel, where: str, what: str, folder: str) -> Path:
    """``base/rel``, refusing empty, absolute and escaping paths; ``what`` names the path in the
    error ('image'), ``folder`` the folder it must stay in ("the manifest's folder")."""
    if not isinstance(rel, str) or not rel.strip():
        raise PGFSelectError(f"{where}: {what} path {rel!r} must be a non-empty string")
    path = (base / rel).resolve()
    if Path(rel).is_absolute() or not path.is_relative_to(base.resolve()):
        raise PGFSelectError(f"{where}: {what} path {rel!r} leaves {folder} {str(base)!r}; "
                             "paths must be relative and stay inside it")
    return path
