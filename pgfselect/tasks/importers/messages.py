"""TRL / HF "messages" data: a JSONL file (image paths relative to the file) or a ``datasets``
folder, each row with ``messages`` ([{role, content}], content a string or TRL's list of
``{"type": "image"}`` / ``{"type": "text", "text"}`` parts) and ``images``."""

from __future__ import annotations

from pathlib import Path

from ...errors import PGFSelectError
from ...fileio import json_object
from ..loading import first_line, quiet_datasets
from .common import Record, column_image, records_from_turns, refuse_multi_turn, single_turns


def _text(content, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise PGFSelectError(f"{where}: message content must be a string or a list of parts")


def _turns(messages, where: str) -> list[tuple[str, str]]:
    if not isinstance(messages, list) or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise PGFSelectError(f"{where}: 'messages' must be a list of {{role, content}} objects")
    return [(str(m["role"]).lower(), _text(m.get("content"), where)) for m in messages]


def _rows(path: Path):
    """(where, row) of a JSONL file or a datasets folder."""
    if path.is_dir():
        with quiet_datasets() as datasets:
            try:
                ds = datasets.load_from_disk(str(path))
            except Exception as exc:
                raise PGFSelectError(f"{path}: cannot read dataset: {first_line(exc)}") from None
        if isinstance(ds, datasets.DatasetDict):
            for split, part in ds.items():
                for i, row in enumerate(part):
                    yield f"{path} split {split} row {i}", row
        else:
            for i, row in enumerate(ds):
                yield f"{path} row {i}", row
        return
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise PGFSelectError(f"{path}: file not found") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield f"{path}:{lineno}", json_object(line, f"{path}:{lineno}")


def read(path: Path, images: Path | None, split_turns: bool) -> list[Record]:
    root = images or (path if path.is_dir() else path.parent)
    records, multi, total = [], [], 0
    for where, row in _rows(path):
        total += 1
        if "messages" not in row:
            raise PGFSelectError(f"{where}: missing 'messages'")
        imgs = row.get("images") or ([row["image"]] if row.get("image") is not None else [])
        if not isinstance(imgs, list):
            raise PGFSelectError(f"{where}: 'images' must be a list")
        imgs = [column_image(v, root, where) for v in imgs]
        rid = str(row["id"]) if row.get("id") is not None else f"{path.stem}-{total - 1}"
        records += records_from_turns(rid, where, single_turns(_turns(row["messages"], where), where), imgs,
                                      split_turns, multi, row.get("aliases"))
    refuse_multi_turn(multi, total)
    return records
