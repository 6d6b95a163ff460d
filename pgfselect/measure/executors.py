"""Where cells run: in this process (default) or as Ray tasks on a local or remote cluster.

An executor maps a picklable job function over job dicts and yields ``(job, result)`` as each
finishes, so the engine can write every cell to the cache the moment it is done.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from ..errors import PGFSelectError

EXECUTORS = ("local", "ray")


class LocalExecutor:
    """Runs the jobs one after another in this process (one machine; CPU or its GPU)."""

    name = "local"

    def run(self, fn: Callable[[dict], dict], jobs: Iterable[dict]) -> Iterator[tuple[dict, dict]]:
        for job in jobs:
            yield job, fn(job)


class RayExecutor:
    """One Ray task per cell: ``num_gpus=1`` when the cluster has GPUs, else ``num_cpus``.

    ``address`` None starts a local Ray instance; ``"auto"`` or ``"ray://host:10001"`` joins a
    cluster. The workers need pgfselect installed and, for a checkpoint path, the same path.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus_per_cell: float = 1, num_gpus_per_cell: float | None = None,
                 local_num_cpus: int | None = None):
        self.address = address
        self.num_cpus_per_cell = num_cpus_per_cell
        self.num_gpus_per_cell = num_gpus_per_cell
        self.local_num_cpus = local_num_cpus

    def _init(self):
        try:
            import ray
        except ImportError:
            raise PGFSelectError("--executor ray needs Ray: pip install 'pgfselect[ray]'") from None
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
        remote = ray.remote(num_cpus=self.num_cpus_per_cell, num_gpus=gpus, max_retries=0)(fn)
        pending = {remote.remote(job): job for job in jobs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                ref = done[0]
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, BaseException):
                        raise cause from None
                    raise
                yield job, result
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)


def make_executor(name: str, address: str | None = None, **kwargs):
    if name == "local":
        if address:
            raise PGFSelectError("--address applies only to --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address=address, **kwargs)
    raise PGFSelectError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")
