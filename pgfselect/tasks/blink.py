"""BLINK tasks, from the Hugging Face hub or from a local copy (offline clusters).

Where the data comes from, in order:
1. ``local_path=`` (``get_task("blink:Counting", local_path=...)``);
2. the environment variable ``PGFSELECT_BLINK_DIR``;
3. the hub: ``datasets.load_dataset("BLINK-Benchmark/BLINK", CONFIG, revision=BLINK_REVISION)``.

A local path may be: a parquet file (the val split of this one task); a folder holding the
task's parquet files (``val-*.parquet``, ``val.parquet``, ``val/*.parquet``, or any
``*.parquet``, read as val); a ``save_to_disk`` folder (a ``DatasetDict`` with a ``val``
split, or one ``Dataset``, read as val); or a root holding one such folder per config name
(``ROOT/Counting/...``, the hub's own layout).

Splits: ``val`` is BLINK's val split (it has the answers). BLINK has no training split, so
``train`` exists only with ``train_fraction`` > 0, which moves a seeded-hash share of the val
items into ``train`` (and out of ``val``). BLINK's ``test`` split has no public answers, so
``test`` is refused.
"""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from ..errors import PGFSelectError
from .base import Task, blink_meta, sample_pool
from .loading import first_line, quiet_datasets, to_pil
from .schema import Item, parse_answer

BLINK_HUB_ID = "BLINK-Benchmark/BLINK"
# The dataset revision used when loading from the hub: the hub's default branch, not a pinned
# commit (no hub access from the machine this was written on); pass ``revision=`` to pin one.
# Relative_Reflectance labels were corrected on the hub in September 2025 (see
# data_cards/blink-Relative_Reflectance.md), so results are only comparable at the same
# revision; it is recorded in every provenance record.
BLINK_REVISION = "main"
BLINK_DIR_ENV = "PGFSELECT_BLINK_DIR"
IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")
REQUIRED_COLUMNS = ("idx", "question", "choices", "answer", "image_1")

DESCRIPTIONS = {
    "Art_Style": "which of two paintings shares the art style of a reference painting",
    "Counting": "count the objects of a named kind in a photograph",
    "Forensic_Detection": "which of four images is a real photograph (three are AI-generated)",
    "Functional_Correspondence": "which point on a second object affords the same action as a marked point",
    "Jigsaw": "which of two patches fills the missing part of an image",
    "Multi-view_Reasoning": "from two views of a static scene, did the camera move left or right",
    "Object_Localization": "which of two boxes more accurately encloses the named object",
    "Relative_Depth": "which of two marked points is closer to the camera",
    "Relative_Reflectance": "which of two marked points has the darker surface colour, or about the same",
    "Semantic_Correspondence": "which point in a second image marks the same semantic part as a reference point",
    "Spatial_Relation": "is a stated spatial relation between two objects true (yes/no)",
    "Visual_Correspondence": "which point in a second view is the same scene point as a reference point",
    "Visual_Similarity": "which of two images is more similar to a reference image",
}


class BlinkTask(Task):
    """A BLINK config as a task. Options: ``local_path``, ``revision``, ``train_fraction``."""

    source = "blink"

    def __init__(self, name: str, local_path: str | os.PathLike | None = None, revision: str | None = None,
                 train_fraction: float = 0.0):
        if revision is not None and (not isinstance(revision, str) or not revision.strip()):
            raise PGFSelectError(f"BLINK revision {revision!r} must be a non-empty string (a commit id or tag)")
        if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) \
                or not 0.0 <= train_fraction < 1.0:
            raise PGFSelectError(f"train_fraction {train_fraction!r} must be a number in [0, 1)")
        env = os.environ.get(BLINK_DIR_ENV) or None
        self.local_path = Path(local_path or env) if (local_path or env) else None
        self.revision = revision
        self.train_fraction = float(train_fraction)
        super().__init__(name, **blink_meta(name), description=DESCRIPTIONS[name],
                         options={"local_path": str(self.local_path) if self.local_path else None,
                                  "revision": revision, "train_fraction": self.train_fraction})
        self._pool: list[Item] | None = None

    # ---------------------------------------------------------------------------- loading

    def _dataset(self):
        """The val split as a ``datasets.Dataset`` and a label for error messages."""
        try:
            import datasets
        except ImportError:  # pragma: no cover - datasets is in the train extra
            raise PGFSelectError("reading BLINK needs the 'datasets' package: pip install 'pgfselect[train]'") from None
        if self.local_path is None:
            revision = self.revision or BLINK_REVISION
            unreachable = hub_unreachable()
            try:
                with _offline(unreachable is not None):
                    ds = datasets.load_dataset(BLINK_HUB_ID, self.name, split="val", revision=revision)
            except Exception as exc:  # network, auth or missing config: one line for the user
                if unreachable is not None:
                    raise PGFSelectError(f"cannot load {BLINK_HUB_ID} config {self.name}: no access to the hub "
                                         f"({unreachable}) and no cached copy; for an offline copy pass "
                                         f"local_path=DIR or set {BLINK_DIR_ENV}") from None
                raise PGFSelectError(f"cannot load {BLINK_HUB_ID} config {self.name} (revision {revision}) "
                                     f"from the hub: {first_line(exc)}; "
                                     f"for an offline copy pass local_path=DIR or set {BLINK_DIR_ENV}") from None
            return ds, f"{BLINK_HUB_ID}/{self.name}@{revision}"
        return _load_local(self.local_path, self.name, datasets)

    def _load(self) -> list[Item]:
        if self._pool is None:
            with quiet_datasets():
                ds, where = self._dataset()
            missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
            if missing:
                raise PGFSelectError(f"{where}: not in BLINK format: missing column(s) {', '.join(missing)}; "
                                     f"expected {', '.join(REQUIRED_COLUMNS)} and image_2..image_4")
            self._pool = [self._row_item(row, f"{where} row {i}") for i, row in enumerate(ds)]
            if not self._pool:
                raise PGFSelectError(f"{where}: has no items")
        return self._pool

    def _row_item(self, row: dict, where: str) -> Item:
        choices = row["choices"]
        if not isinstance(choices, (list, tuple)) or not all(isinstance(c, str) for c in choices):
            raise PGFSelectError(f"{where}: choices must be a list of strings, got {choices!r}")
        if len(choices) != self.n_choices:
            raise PGFSelectError(f"{where}: has {len(choices)} choices; BLINK {self.name} has {self.n_choices}")
        answer = parse_answer(row["answer"], len(choices), where)
        images = [to_pil(row[c], f"{where} column {c}") for c in IMAGE_COLUMNS if row.get(c) is not None]
        if not images:
            raise PGFSelectError(f"{where}: has no image (image_1 is empty)")
        question = row["question"]
        if not isinstance(question, str) or not question.strip():
            raise PGFSelectError(f"{where}: question must be a non-empty string")
        return Item(id=f"{self.id}/{row['idx']}", images=images, question=question.strip(),
                    choices=list(choices), answer=answer, meta={"idx": row["idx"]})

    # ---------------------------------------------------------------------------- splits

    def _in_train(self, item: Item) -> bool:
        """Stable, seed-free assignment of a val item to the carved-out train part."""
        h = int.from_bytes(hashlib.sha256(item.id.encode()).digest()[:8], "big") / 2 ** 64
        return h < self.train_fraction

    def _split_pool(self, split: str) -> list[Item]:
        if split == "test":
            raise PGFSelectError(f"{self.id}: BLINK's test split has no public answers; use split 'val'")
        if split == "train" and self.train_fraction == 0:
            raise PGFSelectError(f"{self.id}: BLINK has no training split; pass train_fraction (e.g. 0.5) to "
                                 "carve one out of val, or train on synthetic or custom tasks")
        pool = self._load()
        return [it for it in pool if self._in_train(it) == (split == "train")]

    def split_sizes(self) -> dict[str, int | None]:
        pool = self._load()
        n_train = sum(self._in_train(it) for it in pool)
        return {"train": n_train if self.train_fraction else 0, "val": len(pool) - n_train, "test": 0}

    def _items(self, split: str, n: int | None, seed: int) -> list[Item]:
        return sample_pool(self._split_pool(split), n, seed, f"{self.id} split {split}")

    def provenance(self) -> dict:
        local = self.local_path is not None
        return {**super().provenance(), "dataset": str(self.local_path) if local else BLINK_HUB_ID,
                "dataset_config": self.name,
                "dataset_revision": self.revision or ("unknown (local copy)" if local else BLINK_REVISION),
                "generator_version": None}

    def info(self) -> dict:
        return {**super().info(), "options": dict(self.options),
                "data": str(self.local_path) if self.local_path
                else f"hub {BLINK_HUB_ID}@{self.revision or BLINK_REVISION}"}


_HUB_STATE: dict[str, str | None] = {}


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached (``HF_HUB_OFFLINE`` set, or no TCP connection to
    ``$HF_ENDPOINT`` within ``timeout`` seconds), or None when it can. Probed once per process:
    without it, an offline machine spends ~30 s in the hub client's retries."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    if endpoint in _HUB_STATE:
        return _HUB_STATE[endpoint]
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        why = "HF_HUB_OFFLINE is set"
    else:
        url = urlparse(endpoint)
        names = ("HTTP_PROXY", "http_proxy") if url.scheme == "http" else ("HTTPS_PROXY", "https_proxy")
        proxy = next((os.environ[n] for n in names + ("ALL_PROXY", "all_proxy") if os.environ.get(n)), None)
        if proxy:  # behind a proxy the hub is reached through it: probe the proxy
            url = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        host, port = url.hostname or endpoint, url.port or (80 if url.scheme == "http" else 443)
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            why = None
        except OSError as exc:
            why = f"{host}:{port}: {getattr(exc, 'strerror', None) or exc or type(exc).__name__}"
    _HUB_STATE[endpoint] = why
    return why


class _offline:
    """Put ``datasets`` and ``huggingface_hub`` in offline mode (cache only, no retries) while on."""

    def __init__(self, on: bool):
        self.on = on
        self.saved: list[tuple[object, object]] = []

    def __enter__(self):
        if self.on:
            import datasets.config
            import huggingface_hub.constants

            for mod in (datasets.config, huggingface_hub.constants):
                self.saved.append((mod, mod.HF_HUB_OFFLINE))
                mod.HF_HUB_OFFLINE = True
        return self

    def __exit__(self, *exc):
        for mod, value in self.saved:
            mod.HF_HUB_OFFLINE = value
        return False


def _load_local(path: Path, name: str, datasets):
    if not path.exists():
        raise PGFSelectError(f"BLINK local copy {str(path)!r} does not exist (from local_path or {BLINK_DIR_ENV})")
    if path.is_dir() and (path / name).exists():
        path = path / name
    if path.is_file():
        if path.suffix != ".parquet":
            raise PGFSelectError(f"BLINK local copy {str(path)!r} is a file but not a .parquet file")
        return _read_parquet([path], datasets), str(path)
    if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as exc:
            raise PGFSelectError(f"{path}: cannot read save_to_disk folder: {first_line(exc)}") from None
        if isinstance(ds, datasets.DatasetDict):
            if "val" not in ds:
                raise PGFSelectError(f"{path}: has splits {', '.join(ds)}; BLINK needs 'val'")
            ds = ds["val"]
        return ds, str(path)
    for pattern in ("val-*.parquet", "val.parquet", "val/*.parquet", "*.parquet"):
        files = sorted(path.glob(pattern))
        if files:
            return _read_parquet(files, datasets), str(files[0] if len(files) == 1 else path)
    raise PGFSelectError(f"{path}: no BLINK data for {name}: expected {name}/val-*.parquet, parquet files "
                         "or a save_to_disk folder")


def _read_parquet(files: list[Path], datasets):
    try:
        return datasets.Dataset.from_parquet([str(f) for f in files])
    except Exception as exc:
        raise PGFSelectError(f"{files[0]}: cannot read parquet: {first_line(exc)}") from None

