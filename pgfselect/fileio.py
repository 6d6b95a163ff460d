"""Atomic file writes: readers never see a half-written file, and a crash leaves none behind."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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
    """Fail early (before any work) when ``path``'s folder cannot be created or written."""
    from .errors import PGFSelectError

    path = Path(path)
    folder = path if path.suffix == "" and not path.is_file() else path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PGFSelectError(f"cannot create {what} folder {str(folder)!r}: {exc.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise PGFSelectError(f"{what} folder {str(folder)!r} is not writable")
    return path


def package_versions(names: tuple[str, ...] = ("pgfselect", "numpy", "scipy", "cvxpy")) -> dict[str, str]:
    """Installed versions of ``names`` (missing ones are left out), for provenance records."""
    from importlib.metadata import PackageNotFoundError, version

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
    import yaml

    from .errors import PGFSelectError

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
