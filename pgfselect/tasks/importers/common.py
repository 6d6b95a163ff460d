"""What every importer shares: the record it yields, turn splitting, image-path checks, answer
types, the seeded split and the writer of the custom task (``DIR/task.yaml`` + JSONL + images).

An importer only parses its format into :class:`Record` objects; everything that decides the
task (answer type, splits, ids, checks) happens here, once, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from ...errors import PGFSelectError
from ...fileio import check_writable, package_versions, staged_folder
from ..export import png_bytes
from ..loading import open_image, path_inside, to_pil
from ..schema import ANSWER_TYPES, MAX_CHOICES, MAX_IMAGES, OPEN_INSTRUCTIONS, parse_answer, parse_number

CLOSED_SET_HINT = 10  # at most this many distinct answers: offer them as choices (answer_type='choice')
_IMAGE_TOKEN = re.compile(r"\s*<image>\s*")


@dataclass
class Record:
    """One imported question. ``images``: paths (checked, inside their folder) or PIL images."""

    id: str
    where: str  # "file:line" (or "folder row i") for error messages
    question: str
    answer: object
    images: list
    choices: list[str] | None = None
    aliases: list[str] = field(default_factory=list)


def clean_question(text: str) -> str:
    """LLaVA's ``<image>`` placeholders removed (pgfselect puts images before the prompt), and
    pgfselect's own answer instruction, so that a ``pgfselect mix`` output imports back as it was."""
    text = _IMAGE_TOKEN.sub("\n", text).strip()
    for instruction in OPEN_INSTRUCTIONS.values():
        if text.endswith("\n" + instruction):
            text = text[: -len(instruction)].strip()
    return text


def single_turns(turns: list[tuple[str, str]], where: str) -> list[tuple[str, str]]:
    """(user, assistant) pairs of a conversation given as (role, text) turns; system turns are
    dropped. A conversation that does not alternate user/assistant is an error."""
    turns = [(r, t) for r, t in turns if r != "system"]
    if not turns or len(turns) % 2 or any(r != ("user" if i % 2 == 0 else "assistant") for i, (r, _) in enumerate(turns)):
        roles = ", ".join(r for r, _ in turns) or "none"
        raise PGFSelectError(f"{where}: a conversation must alternate user and assistant turns (got: {roles})")
    return [(turns[i][1], turns[i + 1][1]) for i in range(0, len(turns), 2)]


def records_from_turns(rid: str, where: str, pairs: list[tuple[str, str]], images: list, split_turns: bool,
                       multi: list[str], aliases=None) -> list[Record]:
    """Single-turn conversations give one record; multi-turn ones are counted in ``multi`` (and
    refused later), or give one record per turn with ``split_turns`` (each with the images).
    ``aliases`` (a record's other accepted answers) apply to a single-turn record only."""
    if len(pairs) > 1 and not split_turns:
        multi.append(where)
        return []
    if len(pairs) == 1:
        return [Record(rid, where, clean_question(pairs[0][0]), pairs[0][1], images, aliases=check_aliases(aliases, where))]
    return [Record(f"{rid}#t{k + 1}", where, clean_question(q), a, images) for k, (q, a) in enumerate(pairs)]


def check_aliases(aliases, where: str) -> list[str]:
    if aliases is None:
        return []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
        raise PGFSelectError(f"{where}: 'aliases' must be a list of non-empty strings")
    return list(aliases)


def refuse_multi_turn(multi: list[str], total: int) -> None:
    if multi:
        raise PGFSelectError(f"{len(multi)} of {total} conversations are multi-turn (first: {multi[0]}); pgfselect "
                             "scores one question per item: pass split_turns=True to import each turn as an item")


def image_path(root: Path, rel, where: str) -> Path:
    """``root/rel``, which must stay inside ``root`` and be a readable image."""
    path = path_inside(root, rel, where, "image", "the images folder")
    open_image(path, where)  # missing or unreadable: a one-line error naming the file
    return path


def column_image(value, root: Path, where: str):
    """An image from a dataset cell: decoded, embedded bytes, or a path, which like any other
    image path must stay inside ``root`` (the dataset's folder)."""
    if isinstance(value, str):
        return image_path(root, value, where)
    if isinstance(value, dict) and not value.get("bytes") and value.get("path"):
        return image_path(root, value["path"], where)
    return to_pil(value, where)


# ------------------------------------------------------------------ answer types
def decide_answer_type(records: list[Record], override: str | None) -> tuple[str, list[str] | None, str | None]:
    """(answer type, the closed set of options or None, a hint for the user or None)."""
    if override is not None and override not in ANSWER_TYPES:
        raise PGFSelectError(f"answer_type {override!r} is unknown; allowed: {', '.join(ANSWER_TYPES)}")
    for r in records:
        if r.answer is None or (isinstance(r.answer, str) and not r.answer.strip()):
            raise PGFSelectError(f"{r.where}: empty answer")
    if any(r.choices is not None for r in records):
        if override not in (None, "choice"):
            raise PGFSelectError(f"answer_type {override}: the items have choices; use choice (or drop the choices column)")
        return "choice", None, None
    answers = [str(r.answer).strip() for r in records]
    distinct = sorted(set(answers))
    if override == "choice":
        if not 2 <= len(distinct) <= MAX_CHOICES:
            raise PGFSelectError(f"answer_type choice: the items have {len(distinct)} distinct answers; "
                                 f"a closed set of 2-{MAX_CHOICES} becomes the options")
        return "choice", distinct, None
    numeric = all(parse_number(a) is not None for a in answers)
    if override == "number" and not numeric:
        bad = next(r for r, a in zip(records, answers) if parse_number(a) is None)
        raise PGFSelectError(f"{bad.where}: answer {bad.answer!r} is not a number (answer_type=number)")
    kind = override or ("number" if numeric else "text")
    hint = None
    if kind == "text" and 2 <= len(distinct) <= CLOSED_SET_HINT and len(distinct) < len(records) / 2:
        hint = (f"{len(distinct)} distinct answers ({', '.join(distinct)}): answer_type=choice makes them "
                "the options of every item, scored by letter logits")
    return kind, None, hint


def item_record(r: Record, kind: str, options: list[str] | None, image_paths: list[str]) -> dict:
    """The custom-task JSONL record of ``r``."""
    rec = {"id": r.id, "images": image_paths, "question": r.question}
    if kind != "choice":
        rec["answer"] = str(r.answer).strip()
        if r.aliases:
            rec["aliases"] = list(r.aliases)
        return rec
    choices = options if options is not None else [str(c) for c in r.choices]
    answer = r.answer
    if options is not None or (isinstance(answer, str) and answer.strip() in choices):
        answer = choices.index(str(answer).strip())  # an answer given as the option's text
    rec["choices"] = choices
    rec["answer"] = parse_answer(answer, len(choices), r.where)
    return rec


# ------------------------------------------------------------------ splits
def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in str(text).split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or any(p < 0 for p in parts) or abs(sum(parts) - 1) > 1e-6:
        raise PGFSelectError(f"split_fractions {text!r} must be three non-negative numbers (train,val,test) "
                             "summing to 1, e.g. 0.8,0.1,0.1")
    return parts


def assign_splits(n: int, fractions: tuple[float, float, float], seed: int) -> dict[str, list[int]]:
    """Record indices per split: a seeded permutation cut by the fractions, each split in file order."""
    order = np.random.default_rng(seed).permutation(n)
    n_train, n_val = round(fractions[0] * n), round(fractions[1] * n)
    n_val = min(n_val, n - n_train)
    cuts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    return {s: sorted(int(i) for i in idx) for s, idx in cuts.items() if len(idx)}


# ------------------------------------------------------------------ the writer
def check_records(records: list[Record]) -> None:
    if not records:
        raise PGFSelectError("no items to import")
    seen: dict[str, str] = {}
    for r in records:
        if r.id in seen:
            raise PGFSelectError(f"{r.where}: duplicate id {r.id!r} (first at {seen[r.id]})")
        seen[r.id] = r.where
        if not r.question:
            raise PGFSelectError(f"{r.where}: empty question")
        if not 1 <= len(r.images) <= MAX_IMAGES:
            raise PGFSelectError(f"{r.where}: has {len(r.images)} images; allowed: 1-{MAX_IMAGES}")


def _copy_image(src, dest_stem: Path) -> str:
    if isinstance(src, Path):
        dest = dest_stem.with_suffix(src.suffix.lower() or ".png")
        shutil.copyfile(src, dest)  # the user's bytes, unchanged
    else:
        dest = dest_stem.with_suffix(".png")
        dest.write_bytes(png_bytes(src))
    return dest.name


def write_task(records: list[Record], out: Path, *, name: str, fmt: str, source: str, answer_type: str | None,
               fractions: tuple[float, float, float], seed: int, number_options: dict) -> dict:
    """Check everything, then build the task folder beside ``out`` and rename it into place."""
    check_records(records)
    kind, options, hint = decide_answer_type(records, answer_type)
    splits = assign_splits(len(records), fractions, seed)
    lines = {s: [] for s in splits}
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise PGFSelectError(f"out {str(out)!r} exists and is not an empty folder; choose a new one")
    check_writable(out.parent, "out")
    with staged_folder(out) as tmp:
        (tmp / "images").mkdir()
        for split, idx in splits.items():
            for i in idx:
                r = records[i]
                paths = [f"images/{_copy_image(img, tmp / 'images' / f'{i:06d}_{k + 1}')}" for k, img in enumerate(r.images)]
                lines[split].append(json.dumps(item_record(r, kind, options, paths), ensure_ascii=False))
        for split, rows in lines.items():
            (tmp / f"{split}.jsonl").write_text("\n".join(rows) + "\n")
        n_images = {len(r.images) for r in records}
        manifest = {"name": name, "description": f"imported from {fmt} {source}", "answer_type": kind}
        if kind == "choice":
            manifest["n_choices"] = len(options) if options else len(records[0].choices)
        if kind == "number":
            manifest.update(number_options)
        if len(n_images) == 1:
            manifest["n_images"] = n_images.pop()
        manifest["splits"] = {s: f"{s}.jsonl" for s in splits}

        (tmp / "task.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))
        summary = {"task": f"custom:{out / 'task.yaml'}", "name": name, "format": fmt, "source": source,
                   "answer_type": kind, "options": options, "hint": hint,
                   "split_sizes": {s: len(v) for s, v in splits.items()}, "seed": seed,
                   "split_fractions": list(fractions), "source_sha256": _sha256(source),
                   "versions": package_versions(("pgfselect", "pillow", "datasets"))}
        (tmp / "import.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False) + "\n")
    return {**summary, "out": str(out)}


def _sha256(source: str) -> str | None:
    p = Path(source)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None
