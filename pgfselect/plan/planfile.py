"""Plan files: the YAML that ``pgfselect plan --out`` writes and ``pgfselect train`` reads.

Schema (version 1): ``pgfselect_plan: 1``, ``target`` (name, or list for several),
``targets`` (name → weight), ``budget`` (int examples), ``matrix``, ``matrix_digest``,
``strategy``, ``allocation`` (source → int examples, summing to the budget; empty when
``status`` is ``no_helpful_source``), ``excluded`` (source → reason), ``solver``, ``status``,
``objective``, ``recommendation`` (with ``no_helpful_source``: ``strategy`` direct or
zero_shot and the ``reason``), ``expected``, ``options``, ``pgfselect_version``.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..errors import PGFSelectError
from ..fileio import atomic_write

REQUIRED = ("pgfselect_plan", "target", "budget", "matrix", "strategy", "allocation")


PLAN_SUFFIXES = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}


def write_plan(plan: dict, path: str | Path) -> Path:
    """Write the plan as JSON (``.json``) or YAML (``.yaml``/``.yml``); both read back with
    :func:`read_plan` (JSON is YAML)."""
    path = Path(path)
    fmt = PLAN_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise PGFSelectError(f"plan file {str(path)!r}: use a .yaml, .yml or .json file name")
    if fmt == "JSON":
        text = json.dumps(plan, indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(plan, sort_keys=False, allow_unicode=True)
    return atomic_write(path, text)


def read_plan(path: str | Path) -> dict:
    """Read and check a plan file: required keys, whole non-negative counts summing to the budget."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PGFSelectError(f"plan file {str(path)!r} not found") from None
    except yaml.YAMLError as exc:
        raise PGFSelectError(f"plan file {str(path)!r} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise PGFSelectError(f"plan file {str(path)!r} is not a mapping")
    missing = [k for k in REQUIRED if k not in doc]
    if missing:
        raise PGFSelectError(f"plan file {str(path)!r} lacks {', '.join(missing)}")
    if doc["pgfselect_plan"] != 1:
        raise PGFSelectError(f"plan file {str(path)!r}: pgfselect_plan {doc['pgfselect_plan']!r} is not a supported version (1)")
    alloc = doc["allocation"]
    if doc.get("status") == "no_helpful_source" and alloc == {}:
        return doc  # an answer: nothing to train on (see its recommendation)
    if not isinstance(alloc, dict) or not alloc:
        raise PGFSelectError(f"plan file {str(path)!r}: allocation must map sources to examples")
    for src, n in alloc.items():
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise PGFSelectError(f"plan file {str(path)!r}: allocation[{src}] = {n!r} is not a whole number ≥ 0")
    if sum(alloc.values()) != doc["budget"]:
        raise PGFSelectError(f"plan file {str(path)!r}: allocation sums to {sum(alloc.values())}, "
                             f"not the budget {doc['budget']}")
    return doc
