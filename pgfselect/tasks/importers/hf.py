"""Any ``datasets`` folder (``save_to_disk``, or parquet files) or a hub dataset at a pinned
revision, mapped with ``columns="question=Q,answer=A,image=I[+I2],choices=C,id=ID"``."""

from __future__ import annotations

from pathlib import Path

from ...errors import PGFSelectError
from ..loading import first_line, quiet_datasets
from .common import Record, clean_question, column_image

KEYS = ("question", "answer", "image", "choices", "id", "aliases")


def parse_columns(text: str | None) -> dict[str, object]:
    cols: dict[str, object] = {"question": "question", "answer": "answer", "image": ["image"]}
    for part in filter(None, (text or "").split(",")):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in KEYS or not value.strip():
            raise PGFSelectError(f"columns entry {part!r} must be KEY=COLUMN with KEY one of {', '.join(KEYS)}")
        cols[key] = [v.strip() for v in value.split("+")] if key == "image" else value.strip()
    return cols


def _load(source: str, revision: str | None, split: str | None):
    path = Path(source)
    with quiet_datasets() as datasets:
        try:
            if path.is_dir():
                if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
                    ds = datasets.load_from_disk(str(path))
                else:
                    files = sorted(str(f) for f in path.rglob("*.parquet"))
                    if not files:
                        raise PGFSelectError(f"{path}: no save_to_disk dataset or parquet files")
                    ds = datasets.Dataset.from_parquet(files)
            else:
                if not revision:  # an unpinned hub id would import whatever is there today
                    raise PGFSelectError(f"{source!r} is not a folder; a hub dataset id needs revision=COMMIT")
                ds = datasets.load_dataset(source, revision=revision, split=split)
        except PGFSelectError:
            raise
        except Exception as exc:
            raise PGFSelectError(f"{source}: cannot read dataset: {first_line(exc)}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            raise PGFSelectError(f"{source} has splits {', '.join(ds)}; choose one with hf_split=SPLIT")
        if split not in ds:
            raise PGFSelectError(f"{source} has no split {split!r}; it has {', '.join(ds)}")
        ds = ds[split]
    return ds


def read(source: str, columns: dict, revision: str | None = None, split: str | None = None) -> list[Record]:
    ds = _load(source, revision, split)
    root = Path(source) if Path(source).is_dir() else Path.cwd()
    wanted = [columns[k] for k in ("question", "answer", "choices", "id", "aliases") if k in columns] + columns["image"]
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise PGFSelectError(f"{source}: no column(s) {', '.join(missing)}; it has {', '.join(ds.column_names)} "
                             "(map them with columns=question=...,answer=...,image=...)")
    records = []
    for i, row in enumerate(ds):
        where = f"{source} row {i}"
        imgs = [column_image(row[c], root, f"{where} column {c}") for c in columns["image"] if row[c] is not None]
        choices = row[columns["choices"]] if "choices" in columns else None
        if choices is not None and not (isinstance(choices, list) and all(isinstance(c, str) for c in choices)):
            raise PGFSelectError(f"{where}: choices must be a list of strings")
        aliases = row[columns["aliases"]] if "aliases" in columns else []
        question = row[columns["question"]]
        if not isinstance(question, str):
            raise PGFSelectError(f"{where}: question must be a string")
        records.append(Record(str(row[columns["id"]]) if "id" in columns else str(i), where,
                              clean_question(question), row[columns["answer"]], imgs, choices, list(aliases or [])))
    return records
