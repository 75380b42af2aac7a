"""Executors run independent units of work (ROAR/KAR cells) and yield their results in order.

The metrics layer defines the interface it needs (``executor.map(fn, items)``,
:class:`metrics.roar_kar.Executor`); the runner takes any such object. :class:`LocalExecutor` runs
cells in this process one after another; a cluster executor (Ray, Dask, ``concurrent.futures``)
can replace it without touching the metrics, as long as its ``map`` yields results in item order.
"""

from __future__ import annotations

from metrics.roar_kar import Executor
from metrics.roar_kar import SequentialExecutor as LocalExecutor

__all__ = ["Executor", "LocalExecutor"]
