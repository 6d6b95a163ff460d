"""Files: atomic writes (readers never see a half-written file, and a crash leaves none behind),
output checks, package versions for provenance, and the one numpy -> JSON conversion."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import yaml

from .errors import PGFSelectError


def to_jsonable(obj, *, finite: bool = False):
    """numpy scalars and arrays to Python numbers and lists, recursively through dicts, lists and
    tuples, so a document serialises to JSON and YAML alike; ``finite``: NaN/inf to None (strict
    JSON)."""
    if isinstance(obj, dict):
        return {k: to_jsonable(v, finite=finite) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, finite=finite) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist(), finite=finite)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if finite and isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_object(line: str, where: str) -> dict:
    """One JSONL line as a dict; errors name ``where`` (the file and line)."""
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise PGFSelectError(f"{where}: invalid JSON: {exc.msg}") from None
    if not isinstance(rec, dict):
        raise PGFSelectError(f"{where}: each line must be a JSON object")
    return rec


def json_default(o):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as Python values."""
    if isinstance(o, (np.generic, np.ndarray)):
        return to_jsonable(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise PGFSelectError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    try:
        # mkstemp creates 0600 files; give the result the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_writable(path: str | os.PathLike, what: str = "output") -> Path:
    """Fail early (before any work) when ``path``'s folder cannot be created or written.
    ``path`` without a suffix that is not a file counts as a folder itself. Creates the folder.
    ``what`` leads the message: the parameter (or flag) that gave ``path``."""
    path = Path(path)
    folder = path if path.suffix == "" and not path.is_file() else path.parent
    _probe(folder, what, path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PGFSelectError(f"{what} {str(path)!r}: cannot create the folder {str(folder)!r}: {exc.strerror}") from None
    return path


def check_output(path: str | os.PathLike, flag: str = "out", *, kind: str = "file",
                 suffixes: dict[str, str] | tuple[str, ...] | None = None,
                 inputs: dict[str, object] | None = None, replace: bool = False,
                 writes: tuple[str, ...] | None = None) -> Path:
    """Check an output path before any work, creating nothing: one-line errors (PGFSelectError).

    ``kind``: "file" or "folder". ``suffixes``: the allowed extensions (lower case, with the dot),
    a tuple or a mapping extension -> format name for the message. ``inputs``: flag -> path (or
    paths) the command reads; the output may not be any of them (nor, for a folder, hold them).
    ``replace``: the folder is built beside ``path`` and renamed into place (its parent is written).
    ``writes``: for a folder, the names written in it; an input may not be one of them (without
    ``writes``, an input may not lie anywhere inside the folder).
    """
    if not str(path).strip():
        raise PGFSelectError(f"{flag} is empty; give a {'folder' if kind == 'folder' else 'file'} name")
    path = Path(path)
    text = str(path)
    if replace and (path.resolve() == Path.cwd().resolve() or path.resolve() in Path.cwd().resolve().parents):
        raise PGFSelectError(f"{flag} {text!r} is the current folder or one above it; the output folder is "
                             "replaced as a whole, so give a new folder")
    if kind == "file" and path.is_dir():
        raise PGFSelectError(f"{flag} {text!r} is a folder; give a file name")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise PGFSelectError(f"{flag} {text!r} exists and is not a folder")
    for in_flag, specs in (inputs or {}).items():
        for spec in ([specs] if isinstance(specs, (str, os.PathLike)) else list(specs or ())):
            if spec is None or str(spec).startswith("published:"):
                continue
            src = Path(spec)
            if not src.exists():
                continue
            same = _same(src, path) or (src.is_dir() and _same(src / "matrix.csv", path))
            if kind == "folder" and writes is None:
                same = same or _inside(src, path)
            elif kind == "folder":
                srcs = [src, src / "matrix.csv"] if src.is_dir() else [src]
                same = same or any(_same(a, path / w) for a in srcs for w in writes)
            if same:
                raise PGFSelectError(f"{flag} {text!r} would write over the input {in_flag} {str(spec)!r}; "
                                     "choose another output")
    if suffixes is not None:
        allowed = list(suffixes)
        if path.suffix.lower() not in allowed:
            names = allowed[0] if len(allowed) == 1 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
            raise PGFSelectError(f"{flag} {text!r} must be a {names} file (the format follows the extension)")
    _probe(path if kind == "folder" and not replace else path.parent, flag, path)
    return path


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _inside(child: Path, folder: Path) -> bool:
    try:
        return folder.resolve() in child.resolve().parents
    except OSError:
        return False


def _probe(folder: Path, what: str, path: Path) -> None:
    """Fail unless a file can be created in ``folder`` (or, when it does not exist yet, in its
    nearest existing ancestor, which must be a folder). Leaves nothing behind."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PGFSelectError(f"{what} {str(path)!r} cannot be written: {str(existing)!r} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(dir=existing, prefix=".pgfselect-probe.", suffix=".tmp")
    except OSError as exc:
        raise PGFSelectError(f"{what} {str(path)!r} cannot be written: cannot create a file in {str(existing)!r} "
                             f"({exc.strerror or exc})") from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


# What a training or measuring run records the versions of (recipe runs, measure cells).
TRAINING_PACKAGES = ("pgfselect", "torch", "transformers", "trl", "peft", "datasets", "accelerate", "bitsandbytes",
                     "tokenizers", "numpy", "scipy", "cvxpy", "pillow")


def package_versions(names: tuple[str, ...] = ("pgfselect", "numpy", "scipy", "cvxpy")) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are left out), for provenance records."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def read_yaml_mapping(path: str | os.PathLike, what: str = "config", not_mapping: str | None = None) -> dict:
    """A YAML file whose top level is a mapping. Errors name the file, and the line for YAML
    syntax; ``not_mapping`` replaces the message for a file that is not a mapping."""
    path = Path(path)
    if not path.is_file():
        raise PGFSelectError(f"{what} file {str(path)!r} not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PGFSelectError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PGFSelectError(f"{path}: cannot read {what} file: {exc}") from None
    if not isinstance(doc, dict):
        raise PGFSelectError(f"{path}: {not_mapping or f'expected a mapping of {what} settings at the top level'}")
    return doc


@contextlib.contextmanager
def staged_folder(out: str | os.PathLike):
    """Build a folder beside ``out`` and rename it into place when the block ends without error
    (replacing ``out``, which the caller has checked may be replaced); on error nothing is left.
    So an output folder is either complete or absent."""
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
