"""Executors of ROAR/KAR work: in this process, or as tasks on a Ray cluster (more than one machine).

An executor maps a function over independent items (cells, or groups of cells for the ensemble
engine; see :class:`metrics.roar_kar.Executor`). :class:`RayExecutor` sends every item to a Ray
cluster as a task with declared resources (CPUs, GPUs) and yields results as they finish, so the
driver stores each cell the moment it exists and a rerun resumes from the store. A task whose
worker process dies is retried (``max_retries``); since a cell depends only on its data and its
seed, the retry gives the same result.

Ray is an optional dependency (``pip install rectbench[ray]``) imported only here, and only when a
:class:`RayExecutor` is made.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from metrics import SequentialExecutor

__all__ = ["RayExecutor", "make_executor", "EXECUTORS", "KILL_ONCE"]

EXECUTORS: tuple[str, ...] = ("sequential", "ray")

#: Fault injection for the tests: with ``RECTBENCH_FAULT_RAY_KILL_ONCE=FILE`` in the environment
#: of the Ray workers, the worker that starts task number ``RECTBENCH_FAULT_RAY_KILL_AT`` (default
#: 1, counted by this file's size) first creates ``FILE``'s marker and then kills itself with
#: SIGKILL, once per ``FILE``: a worker dying mid-run, at a moment chosen by progress.
KILL_ONCE = "RECTBENCH_FAULT_RAY_KILL_ONCE"
KILL_AT = "RECTBENCH_FAULT_RAY_KILL_AT"

_In = TypeVar("_In")
_Out = TypeVar("_Out")
_REMOTE: dict[str, Any] = {}


def make_executor(
    name: str, *, address: str | None = None, device: str = "cpu"
) -> SequentialExecutor | RayExecutor:
    """The executor called ``name`` (:data:`EXECUTORS`); Ray tasks ask for one GPU each when the
    run's ``device`` is CUDA (the ensemble engine's groups), else one CPU.

    Raises:
        ValueError: An unknown name, or ``address`` without Ray.
        ImportError: ``"ray"`` without Ray installed (the message says how to install it).
    """
    if name not in EXECUTORS:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {name!r}")
    if name == "sequential":
        if address:
            raise ValueError("--ray-address needs --executor ray")
        return SequentialExecutor()
    cuda = device.startswith("cuda") or device == "auto"
    return RayExecutor(address, num_cpus=1, num_gpus=1 if cuda and _has_cuda() else 0)


class RayExecutor:
    """Runs each item as a Ray task; see the module docstring.

    Args:
        address: A running cluster (``ray start --head`` prints it; ``"auto"`` finds a local one);
            None starts a local one unless Ray is already initialised in this process.
        num_cpus: CPUs each task declares (torch in the task uses that many threads).
        num_gpus: GPUs each task declares (0 on CPU-only clusters).
        max_retries: Retries of a task whose worker died.
    """

    def __init__(
        self, address: str | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
        max_retries: int = 3,
    ) -> None:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.num_cpus, self.num_gpus, self.max_retries = num_cpus, num_gpus, max_retries

    def map_unordered(
        self, fn: Callable[[_In], _Out], items: Iterable[_In]
    ) -> Iterator[tuple[int, _Out]]:
        """``(position, fn(item))`` pairs in the order the tasks finish."""
        ray = _import_ray()
        items = list(items)
        if not items:
            return
        function = ray.put(fn)  # once in the object store, not once per task
        task = _remote().options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                 max_retries=self.max_retries)
        threads = max(1, int(self.num_cpus))
        position = {task.remote(function, item, threads): i for i, item in enumerate(items)}
        pending = list(position)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield position[ref], ray.get(ref)

    def map(self, fn: Callable[[_In], _Out], items: Iterable[_In]) -> Iterator[_Out]:
        """``fn(item)`` in the order of ``items`` (each yielded once it and those before it exist)."""
        buffered: dict[int, _Out] = {}
        following = 0
        for index, value in self.map_unordered(fn, items):
            buffered[index] = value
            while following in buffered:
                yield buffered.pop(following)
                following += 1


def _apply(fn: Callable[[Any], Any], item: Any, threads: int) -> Any:
    """The body of every task: ``fn(item)`` with torch on ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    _maybe_die()
    return fn(item)


def _maybe_die() -> None:
    marker = os.environ.get(KILL_ONCE)
    if not marker:
        return
    path = Path(marker)
    counter = path.with_suffix(".count")
    with open(counter, "a") as file:  # one byte per task started, across processes
        file.write(".")
    started = counter.stat().st_size
    if started >= int(os.environ.get(KILL_AT, "1")) and not path.exists():
        path.write_text(f"killed worker {os.getpid()}\n")
        os.kill(os.getpid(), signal.SIGKILL)


def _remote() -> Any:
    if "apply" not in _REMOTE:
        _REMOTE["apply"] = _import_ray().remote(_apply)
    return _REMOTE["apply"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            "the Ray executor needs Ray: pip install 'rectbench[ray]' (or pip install ray)"
        ) from error
    return ray


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
