"""Where cells run: in this process (default) or as Ray tasks on a local or remote cluster.

An executor maps a picklable job function over job dicts and yields ``(job, result)`` as each
finishes, so the engine can write every cell to the cache the moment it is done.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Callable, Iterable, Iterator

from ..errors import PGFSelectError
from .training import CellOutOfMemory

EXECUTORS = ("local", "ray")


# Environment the cells' task loading reads; forwarded to Ray workers (runtime_env), whose own
# environment may differ from the driver's. The worker then checks its config hash anyway.
FORWARDED_ENV_PREFIXES = ("PGFSELECT_",)
FORWARDED_ENV = ("HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                 "WANDB_PROJECT", "WANDB_MODE", "WANDB_DIR")
PATH_ENV = ("PGFSELECT_BLINK_DIR", "PGFSELECT_CUSTOM_TASKS", "PGFSELECT_CACHE_DIR", "PGFSELECT_MODELS")


def task_environment(environ=None) -> dict[str, str]:
    """The driver's variables that decide which data a cell loads, paths made absolute (a worker
    may start in another folder)."""
    environ = os.environ if environ is None else environ
    out = {}
    for key, value in environ.items():
        if key.startswith(FORWARDED_ENV_PREFIXES) or key in FORWARDED_ENV:
            if key in PATH_ENV and value:
                value = os.pathsep.join(os.path.abspath(os.path.expanduser(v)) if v else v
                                        for v in value.split(os.pathsep))
            out[key] = value
    return out


class LocalExecutor:
    """Runs the jobs one after another in this process (one machine; CPU or its GPU)."""

    name = "local"
    shares_disk = True

    def run(self, fn: Callable[[dict], dict], jobs: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
        for job in jobs:
            yield job, fn(job)


class RayExecutor:
    """One Ray task per cell: ``num_gpus=1`` when the cluster has GPUs, else ``num_cpus``.

    ``address`` None starts a local Ray instance; ``"auto"`` or ``"ray://host:10001"`` joins a
    cluster. The workers need pgfselect installed and, for a checkpoint path, the same path.

    - The driver's task environment (``PGFSELECT_*``, offline flags) goes to every worker
      (``runtime_env``), and each worker checks that it resolves the config to the driver's hash.
    - A cell whose worker dies (crash, killed for memory) or that runs out of GPU memory is retried
      up to ``max_retries`` times; one that still fails comes back as a failed record with its
      error, and the other cells go on (``measure`` lists it and exits 1; a rerun retries it).
    - A worker process runs many cells (``max_calls=0``; Ray's default for GPU tasks is one), so
      the processor and preprocessed evaluation sets are built once per worker, not per cell; the
      engine releases each cell's model and the CUDA cache.
    - ``shares_disk``: whether the workers write to the driver's disk (default: only for a local
      instance); when not, each adapter is sent back to the driver unless ``adapters_dir`` is set.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus_per_cell: float = 1, num_gpus_per_cell: float | None = None,
                 local_num_cpus: int | None = None, max_retries: int = 2, shares_disk: bool | None = None):
        if max_retries < 0:
            raise PGFSelectError(f"max_retries must be at least 0, got {max_retries}")
        self.address = address
        self.num_cpus_per_cell = num_cpus_per_cell
        self.num_gpus_per_cell = num_gpus_per_cell
        self.local_num_cpus = local_num_cpus
        self.max_retries = max_retries
        self.shares_disk = address is None if shares_disk is None else shares_disk

    def _init(self):
        try:
            import ray
        except ImportError:
            raise PGFSelectError("the Ray executor (executor=ray) needs Ray: pip install 'pgfselect[ray]'") from None
        if not ray.is_initialized():
            kwargs = dict(address=self.address, include_dashboard=False, log_to_driver=False,
                          configure_logging=False)
            if self.address is None and self.local_num_cpus:
                kwargs["num_cpus"] = self.local_num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as exc:
                raise PGFSelectError(f"cannot reach the Ray cluster at {self.address!r}: {exc}") from None
        return ray

    def run(self, fn: Callable[[dict], dict], jobs: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
        ray = self._init()
        gpus = self.num_gpus_per_cell
        if gpus is None:
            gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
        remote = ray.remote(num_cpus=self.num_cpus_per_cell, num_gpus=gpus, max_calls=0,
                            max_retries=self.max_retries, retry_exceptions=[CellOutOfMemory],
                            runtime_env={"env_vars": task_environment()})(fn)
        pending = {remote.remote(job): job for job in jobs}
        # Ray prints its notices of dead workers on the driver's stdout; stdout is for results
        # (JSON with --format json), so they go to stderr while the cells run.
        redirect = contextlib.redirect_stdout(sys.stderr)
        redirect.__enter__()
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    result = {"source": job.get("source"), "seed": job.get("seed"), "status": "failed",
                              "error": self._describe(exc)}
                yield job, result
        finally:
            redirect.__exit__(None, None, None)
            for ref in pending:
                ray.cancel(ref, force=True)

    def _describe(self, exc) -> str:
        """One line: the cell's own error, or what happened to its worker, and the retries spent."""
        cause = getattr(exc, "cause", None)
        if isinstance(cause, BaseException):
            text = f"{type(cause).__name__}: {cause}" if not isinstance(cause, PGFSelectError) else str(cause)
        else:
            text = f"{type(exc).__name__}: {exc}"
        first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
        retried = "" if isinstance(cause, BaseException) and not _retried(cause) else \
            f" (after {self.max_retries} retr{'y' if self.max_retries == 1 else 'ies'})"
        return first + retried


def _retried(cause: BaseException) -> bool:
    return isinstance(cause, CellOutOfMemory)


def make_executor(executor: str, address: str | None = None, **kwargs):
    """The executor named ``executor`` ("local" or "ray"; ``address`` and ``kwargs`` are Ray's)."""
    if executor == "local":
        if address:
            raise PGFSelectError("address applies only to executor=ray")
        return LocalExecutor()
    if executor == "ray":
        return RayExecutor(address=address, **kwargs)
    raise PGFSelectError(f"unknown executor {executor!r}; valid: {', '.join(EXECUTORS)}")
