"""Task registry: ids such as ``synthetic:Counting``, ``blink:Counting``, ``custom:NAME``.

A task id is ``SOURCE:NAME``. For ``blink`` and ``synthetic`` the name is a BLINK config name,
resolved with :func:`pgfselect.names.resolve` (so ``synthetic:counting``, ``synthetic:CT`` and
``synthetic:multi-view reasoning`` all work). For ``custom`` it is the ``name`` of a registered
YAML manifest, or the path of a manifest file.
"""

from __future__ import annotations

from ..errors import PGFSelectError
from ..names import BLINK_TASKS, resolve
from .base import SOURCES, SPLITS, Task, blink_meta, construct, split_id
from .blink import BlinkTask
from .custom import get_custom_task, registered_custom_tasks
from .synthetic import SyntheticTask

__all__ = ["SOURCES", "SPLITS", "Task", "blink_meta", "get_task", "list_tasks", "split_id", "task_with_options"]


def task_with_options(task_id: str, task_options: dict) -> "Task":
    """``get_task`` with options from a config's ``task_options``, keyed by a task source
    ("blink") or a task id; the id's own options win."""
    source = split_id(task_id)[0]
    return get_task(task_id, **{**task_options.get(source, {}), **task_options.get(task_id, {})})


def get_task(task_id: str, **options) -> Task:
    """Resolve ``task_id`` to a :class:`Task`.

    Options: synthetic ``size`` (px, default 112), ``difficulty`` (0-1), ``shuffle`` (bool);
    blink ``local_path`` (a ``save_to_disk`` folder or parquet files; default
    ``$PGFSELECT_BLINK_DIR``, else the hub), ``revision``, ``train_fraction``; custom
    ``manifest`` (path of the YAML manifest when NAME is not registered).
    """
    source, name = split_id(task_id)
    if source == "synthetic":
        return construct(SyntheticTask, resolve(name, BLINK_TASKS, "synthetic task"), options)
    if source == "blink":
        return construct(BlinkTask, resolve(name, BLINK_TASKS, "BLINK task"), options)
    unknown = sorted(set(options) - {"manifest"})
    if unknown:
        raise PGFSelectError(f"option(s) {', '.join(unknown)} do not apply to custom tasks; allowed: manifest")
    return get_custom_task(name, **options)


def list_tasks() -> list[Task]:
    """Every known task: the 13 BLINK tasks, their 13 synthetic analogues, registered custom tasks.

    Listing never loads data (BLINK tasks are listed whether or not a copy is available).
    """
    return ([BlinkTask(name) for name in BLINK_TASKS] + [SyntheticTask(name) for name in BLINK_TASKS]
            + registered_custom_tasks())
