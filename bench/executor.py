"""Executors run independent units of work (ROAR/KAR cells) and yield their results in order.

The metrics layer only needs ``executor.map(fn, items)``; a cluster executor (Ray, Dask,
``concurrent.futures``) can replace :class:`LocalExecutor` without touching the metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["Executor", "LocalExecutor"]


class Executor(Protocol):
    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply ``fn`` to each item; yield results in the items' order."""
        ...


class LocalExecutor:
    """Runs each item in this process, one after another (results stream as they finish)."""

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)
