"""LLaVA JSON: a list of ``{id, image | images, conversations: [{from, value}, ...]}``; image
paths are relative to the images folder (``images``, default the JSON file's folder)."""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import PGFSelectError
from .common import Record, image_path, records_from_turns, refuse_multi_turn, single_turns

ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def json_list_with_lines(path: Path) -> list[tuple[int, object]]:
    """(line, element) of a JSON list, so that errors can name the line a record starts on."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PGFSelectError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PGFSelectError(f"{path}: cannot read: {exc}") from None
    dec = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:pos + 1] == "[":
        raise PGFSelectError(f"{path}: a LLaVA file must be a JSON list of records")
    pos += 1
    out = []
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text):
            raise PGFSelectError(f"{path}: invalid JSON: the list is not closed")
        if text[pos] == "]":
            return out
        line = text.count("\n", 0, pos) + 1
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise PGFSelectError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        out.append((line, obj))


def read(path: Path, images: Path | None, split_turns: bool) -> list[Record]:
    root = images or path.parent
    records, multi = [], []
    elements = json_list_with_lines(path)
    for k, (line, rec) in enumerate(elements):
        where = f"{path}:{line}"
        if not isinstance(rec, dict) or not isinstance(rec.get("conversations"), list):
            raise PGFSelectError(f"{where}: a record must be an object with a 'conversations' list")
        turns = []
        for t in rec["conversations"]:
            role = ROLES.get(str(t.get("from", "")).lower()) if isinstance(t, dict) else None
            if role is None or not isinstance(t.get("value"), str):
                raise PGFSelectError(f"{where}: each turn needs 'from' (human or gpt) and a text 'value'")
            turns.append((role, t["value"]))
        paths = rec.get("images", rec.get("image"))
        paths = [paths] if isinstance(paths, str) else (paths or [])
        if not isinstance(paths, list):
            raise PGFSelectError(f"{where}: 'image'/'images' must be a path or a list of paths")
        imgs = [image_path(root, p, where) for p in paths]
        rid = str(rec.get("id", f"{path.stem}-{k}"))
        records += records_from_turns(rid, where, single_turns(turns, where), imgs, split_turns, multi,
                                      rec.get("aliases"))
    refuse_multi_turn(multi, len(elements))
    return records
