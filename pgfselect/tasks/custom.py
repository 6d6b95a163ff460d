"""Custom tasks: a user's own target (or source) described by a small YAML manifest.

Two kinds of manifest; every path is relative to the manifest's folder and may not leave it::

    # JSONL items
    name: defects                 # the task id is custom:defects
    description: which crop shows a scratch
    n_choices: 4                  # every item must have exactly this many
    level: mid                    # optional (low/mid/high), for analysis groups
    granularity: image            # optional (pixel/crop/patch/image)
    splits: {train: train.jsonl, val: val.jsonl}      # test optional

    # one JSON object per line:
    # {"id": "d17", "images": ["img/d17.png"], "question": "...", "choices": ["a", "b", "c", "d"], "answer": 2}
    # answer: a 0-based index, a letter "C" or BLINK's "(C)"; "image": "x.png" works for one image.

    # open-ended answers (JSONL only; `pgfselect tasks import` writes these)
    name: counts
    answer_type: number           # choice (default, needs n_choices), number or text
    tolerance: 0.05               # number: relative tolerance for decimals (integers: exact)
    number_metric: exact          # number: exact, or mra (VSI-Bench's mean relative accuracy)
    splits: {train: train.jsonl, val: val.jsonl, test: test.jsonl}
    # {"id": "c3", "images": ["images/c3.png"], "question": "How many cups?", "answer": "7"}
    # text items may list "aliases": ["grey", "gray"]: any of them (normalised) is correct.

    # a datasets folder (save_to_disk DatasetDict, or parquet files named <split>*.parquet)
    name: defects
    n_choices: 4
    dataset: hf_copy
    columns: {id: idx, question: question, choices: choices, answer: answer, images: [image_1, image_2]}
    split_names: {val: validation}   # optional: our split -> the dataset's split

Register manifests with :func:`register_manifest`, list them in ``$PGFSELECT_CUSTOM_TASKS``
(manifest files or folders of them, separated by ``os.pathsep``), or address one directly as
``custom:path/to/manifest.yaml`` or ``get_task("custom:NAME", manifest=PATH)``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import PGFSelectError
from ..fileio import json_object, read_yaml_mapping
from ..names import resolve
from .base import SPLITS, Task, sample_pool
from .loading import first_line, open_image, path_inside, quiet_datasets, to_pil
from .schema import ANSWER_TYPES, MAX_CHOICES, MAX_IMAGES, Item, parse_answer, validate_item

CUSTOM_TASKS_ENV = "PGFSELECT_CUSTOM_TASKS"
_REGISTERED: dict[str, Path] = {}


class Columns(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str | None = None
    question: str = "question"
    choices: str = "choices"
    answer: str = "answer"
    images: list[str] = Field(default_factory=lambda: ["image"], min_length=1, max_length=MAX_IMAGES)


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=80)
    description: str = ""
    answer_type: Literal[ANSWER_TYPES] = "choice"
    n_choices: int | None = Field(default=None, ge=2, le=MAX_CHOICES)
    tolerance: float = Field(default=0.0, ge=0, lt=1)
    number_metric: Literal["exact", "mra"] = "exact"
    n_images: int | None = Field(default=None, ge=1, le=MAX_IMAGES)
    level: Literal["low", "mid", "high", "unknown"] = "unknown"
    granularity: Literal["pixel", "crop", "patch", "image", "unknown"] = "unknown"
    license: str = "unknown"
    splits: dict[Literal["train", "val", "test"], str] | None = None
    dataset: str | None = None
    columns: Columns = Field(default_factory=Columns)
    split_names: dict[Literal["train", "val", "test"], str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.splits is None) == (self.dataset is None):
            raise ValueError("give exactly one of 'splits' (JSONL files) or 'dataset' (a datasets folder)")
        if self.splits is not None and not self.splits:
            raise ValueError("'splits' is empty; name at least one of train, val, test")
        if self.answer_type == "choice" and self.n_choices is None:
            raise ValueError("n_choices: Field required for a choice task (2-26); open-ended tasks set "
                             "answer_type: number or text")
        if self.answer_type != "choice" and self.n_choices is not None:
            raise ValueError(f"n_choices does not apply to answer_type {self.answer_type}; remove it")
        if self.answer_type != "choice" and self.dataset is not None:
            raise ValueError(f"answer_type {self.answer_type} needs 'splits' (JSONL files); "
                             "convert a datasets folder with `pgfselect tasks import hf`")
        return self


def _inside(base: Path, rel: str, where: str, what: str) -> Path:
    """``base/rel``, refusing absolute paths and paths that escape ``base``."""
    return path_inside(base, rel, where, what, "the manifest's folder")


def load_manifest(path: str | os.PathLike) -> tuple[Manifest, Path]:
    """Parse and validate a manifest; errors name the file (and the line for YAML syntax)."""
    path = Path(path)
    data = read_yaml_mapping(path, "custom task manifest", not_mapping="a manifest must be a YAML mapping "
                             "with name, n_choices and splits or dataset")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "manifest"
        raise PGFSelectError(f"{path}: {loc}: {err['msg']}") from None
    base = path.parent
    for split, rel in (manifest.splits or {}).items():
        if not _inside(base, rel, str(path), f"split {split}").is_file():
            raise PGFSelectError(f"{path}: split {split} file {rel!r} does not exist")
    if manifest.dataset is not None and not _inside(base, manifest.dataset, str(path), "dataset").exists():
        raise PGFSelectError(f"{path}: dataset folder {manifest.dataset!r} does not exist")
    return manifest, path


class CustomTask(Task):
    """A task defined by a manifest (see the module docstring)."""

    source = "custom"

    def __init__(self, name: str, manifest: str | os.PathLike):
        self.manifest, self.manifest_path = load_manifest(manifest)
        m = self.manifest
        if name != m.name:
            raise PGFSelectError(f"manifest {str(self.manifest_path)!r} defines task {m.name!r}, not {name!r}")
        super().__init__(m.name, n_choices=m.n_choices or 0, n_images=m.n_images, level=m.level,
                         granularity=m.granularity, description=m.description,
                         options={"manifest": str(self.manifest_path)})
        self.answer_type = m.answer_type
        if m.answer_type == "number":
            self.scoring = {"tolerance": m.tolerance, "metric": m.number_metric}
        self.base = self.manifest_path.parent
        self._pools: dict[str, list[Item]] = {}

    def available_splits(self) -> list[str]:
        if self.manifest.splits is not None:
            return [s for s in SPLITS if s in self.manifest.splits]
        return [s for s in SPLITS if s in self._dataset_dict()]

    def split_sizes(self) -> dict[str, int | None]:
        return {s: len(self._pool(s)) if s in self.available_splits() else 0 for s in SPLITS}

    def _pool(self, split: str) -> list[Item]:
        if split not in self._pools:
            if split not in self.available_splits():
                raise PGFSelectError(f"{self.id} has no {split!r} split; it has: {', '.join(self.available_splits())}")
            items = self._read_jsonl(split) if self.manifest.splits is not None else self._read_dataset(split)
            seen: dict[str, str] = {}
            for item in items:
                if item.id in seen:
                    raise PGFSelectError(f"{item.meta['where']}: duplicate id {item.id!r} (first at {seen[item.id]})")
                seen[item.id] = item.meta["where"]
            if not items:
                raise PGFSelectError(f"{self.id}: split {split} has no items")
            self._pools[split] = items
        return self._pools[split]

    def _items(self, split: str, n: int | None, seed: int) -> list[Item]:
        return sample_pool(self._pool(split), n, seed, f"{self.id} split {split}")

    # --------------------------------------------------------------------------- JSONL

    def _read_jsonl(self, split: str) -> list[Item]:
        path = _inside(self.base, self.manifest.splits[split], str(self.manifest_path), f"split {split}")
        items = []
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    items.append(self._jsonl_item(line, f"{path}:{lineno}", split, lineno))
        return items

    def _jsonl_item(self, line: str, where: str, split: str, lineno: int) -> Item:
        rec = json_object(line, where)
        open_ended = self.answer_type != "choice"
        allowed = ({"id", "images", "image", "question", "answer", "aliases", "meta", "source"} if open_ended else
                   {"id", "images", "image", "question", "choices", "answer", "answer_letter", "meta", "source"})
        unknown = set(rec) - allowed
        if unknown:
            raise PGFSelectError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
                                 f"allowed: {', '.join(sorted(allowed - {'meta', 'answer_letter'}))}")
        if "source" in rec and not isinstance(rec["source"], dict):
            raise PGFSelectError(f"{where}: source must be a JSON object (e.g. {{\"dataset\": \"coco\", "
                                 "\"image_id\": 9}})")
        for key in ("question", "answer") if open_ended else ("question", "choices", "answer"):
            if key not in rec:
                raise PGFSelectError(f"{where}: missing field {key!r}")
        paths = rec.get("images", rec.get("image"))
        paths = [paths] if isinstance(paths, str) else paths
        if not isinstance(paths, list) or not 1 <= len(paths) <= MAX_IMAGES:
            raise PGFSelectError(f"{where}: 'images' must list 1-{MAX_IMAGES} image paths")
        images = [open_image(_inside(self.base, p, where, "image"), where) for p in paths]
        if open_ended:
            answer = rec["answer"]
            item = Item(id=f"{self.id}/{rec.get('id', f'{split}/{lineno}')}", images=images, question=rec["question"],
                        choices=[], answer=-1, meta={"where": where, "scoring": self.scoring},
                        answer_type=self.answer_type,
                        target=answer if isinstance(answer, str) else (None if answer is None else str(answer)),
                        aliases=rec.get("aliases", []))
            return self._check(item, where)
        item = Item(id=str(rec.get("id", f"{split}/{lineno}")), images=images, question=rec["question"],
                    choices=rec["choices"], answer=-1,
                    meta={"where": where, **({"source": rec["source"]} if "source" in rec else {})})
        if not isinstance(item.choices, list):
            raise PGFSelectError(f"{where}: choices must be a list of strings")
        item.answer = parse_answer(rec["answer"], len(item.choices), where)
        item.id = f"{self.id}/{item.id}"
        return self._check(item, where)

    def _check(self, item: Item, where: str) -> Item:
        validate_item(item, self.n_choices, where)
        if self.n_images and len(item.images) != self.n_images:
            raise PGFSelectError(f"{where}: has {len(item.images)} images; the manifest says n_images: {self.n_images}")
        return item

    # ------------------------------------------------------------------------- datasets

    def _dataset_dict(self) -> dict:
        """Split name (ours) -> a ``datasets.Dataset``, loaded once."""
        if not hasattr(self, "_dd"):
            folder = _inside(self.base, self.manifest.dataset, str(self.manifest_path), "dataset")
            names = {s: self.manifest.split_names.get(s, s) for s in SPLITS}
            out = {}
            with quiet_datasets() as datasets:
                try:
                    if (folder / "dataset_dict.json").is_file():
                        dd = datasets.load_from_disk(str(folder))
                        out = {s: dd[n] for s, n in names.items() if n in dd}
                    elif (folder / "state.json").is_file():  # one Dataset: used as val
                        out = {"val": datasets.load_from_disk(str(folder))}
                    else:
                        for s, n in names.items():
                            files = sorted(folder.glob(f"{n}*.parquet")) + sorted(folder.glob(f"{n}/*.parquet"))
                            if files:
                                out[s] = datasets.Dataset.from_parquet([str(f) for f in files])
                except Exception as exc:
                    raise PGFSelectError(f"{folder}: cannot read dataset: {first_line(exc)}") from None
            if not out:
                raise PGFSelectError(f"{folder}: no splits found (expected a save_to_disk folder or "
                                     f"<split>*.parquet files for {', '.join(names.values())})")
            self._dd = out
        return self._dd

    def _read_dataset(self, split: str) -> list[Item]:
        ds = self._dataset_dict()[split]
        cols = self.manifest.columns
        wanted = [c for c in (cols.id, cols.question, cols.choices, cols.answer) if c] + cols.images
        missing = [c for c in wanted if c not in ds.column_names]
        if missing:
            raise PGFSelectError(f"{self.manifest_path}: columns: dataset split {split} has no column(s) "
                                 f"{', '.join(missing)}; it has {', '.join(ds.column_names)}")
        items = []
        for i, row in enumerate(ds):
            where = f"{self.manifest.dataset} split {split} row {i}"
            images = [to_pil(row[c], f"{where} column {c}") for c in cols.images if row[c] is not None]
            choices = row[cols.choices]
            if not isinstance(choices, list):
                raise PGFSelectError(f"{where}: choices must be a list of strings")
            item = Item(id=f"{self.id}/{row[cols.id] if cols.id else f'{split}/{i}'}", images=images,
                        question=row[cols.question], choices=choices,
                        answer=parse_answer(row[cols.answer], len(choices), where), meta={"where": where})
            items.append(self._check(item, where))
        return items

    def provenance(self) -> dict:
        return {**super().provenance(), "manifest": str(self.manifest_path),
                "manifest_sha256": _sha256(self.manifest_path), "dataset_revision": None,
                "generator_version": None}

    def info(self) -> dict:
        return {**super().info(), "manifest": str(self.manifest_path), "license": self.manifest.license,
                "splits": self.available_splits() if self.manifest.splits is not None else None}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------- registry

def register_manifest(path: str | os.PathLike) -> CustomTask:
    """Validate a manifest and make ``custom:NAME`` resolvable in this process."""
    manifest, p = load_manifest(path)
    other = _REGISTERED.get(manifest.name)
    if other is not None and other != p.resolve():
        raise PGFSelectError(f"custom task {manifest.name!r} is already registered from {str(other)!r}")
    _REGISTERED[manifest.name] = p.resolve()
    return CustomTask(manifest.name, p)


def _env_manifests() -> list[Path]:
    out = []
    for entry in filter(None, os.environ.get(CUSTOM_TASKS_ENV, "").split(os.pathsep)):
        p = Path(entry)
        if p.is_dir():
            out += sorted([*p.glob("*.yaml"), *p.glob("*.yml")])
        elif p.is_file():
            out.append(p)
        else:
            raise PGFSelectError(f"${CUSTOM_TASKS_ENV} entry {entry!r} is neither a manifest file nor a folder")
    return out


def _known() -> dict[str, Path]:
    known = {}
    for p in _env_manifests():
        known.setdefault(load_manifest(p)[0].name, p)
    known.update(_REGISTERED)
    return known


def registered_custom_tasks() -> list[CustomTask]:
    return [CustomTask(name, path) for name, path in sorted(_known().items())]


def get_custom_task(name: str, manifest: str | os.PathLike | None = None) -> CustomTask:
    """``custom:NAME`` (registered, or with ``manifest=``) or ``custom:path/to/manifest.yaml``."""
    if manifest is not None:
        m, _ = load_manifest(manifest)
        return CustomTask(m.name if name in (m.name, str(manifest)) else name, manifest)
    if name.endswith((".yaml", ".yml")):
        m, _ = load_manifest(name)
        return CustomTask(m.name, name)
    known = _known()
    if not known:
        raise PGFSelectError(f"unknown custom task {name!r}: no custom tasks are registered; pass a manifest "
                             f"(custom:path/to/task.yaml, manifest=PATH) or list it in ${CUSTOM_TASKS_ENV}")
    hit = resolve(name, list(known), "custom task")
    return CustomTask(hit, known[hit])
