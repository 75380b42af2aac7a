"""Fault injection for the resumption tests: a run that kills itself after its N-th stored unit.

A *stored unit* is one committed write of the result store (a transaction) or one cache file
renamed into place (a model, a map, a decoded data set). With ``RECTBENCH_FAULT_KILL_AFTER=N`` in
the environment the process sends itself ``SIGKILL`` right after its N-th unit, so a test kills a
run at a moment chosen by progress, never by the clock (no "finished before it could be killed").
``RECTBENCH_FAULT_LOG=FILE`` appends one line per unit (``<count>\\t<unit>``), so a test learns how
many units a run stores. Without either variable every hook returns at once.
"""

from __future__ import annotations

import os
import signal
from typing import Any, TypeVar

__all__ = ["KILL_AFTER", "LOG", "reset", "stored", "watch_store"]

KILL_AFTER = "RECTBENCH_FAULT_KILL_AFTER"
LOG = "RECTBENCH_FAULT_LOG"

_count = 0
S = TypeVar("S")


def _enabled() -> bool:
    return bool(os.environ.get(KILL_AFTER) or os.environ.get(LOG))


def reset() -> None:
    """Start counting units from zero (at the start of a run)."""
    global _count
    _count = 0


def stored(unit: str) -> None:
    """Count one stored unit; log it and kill the process when the environment asks for it."""
    global _count
    if not _enabled():
        return
    _count += 1
    log = os.environ.get(LOG)
    if log:
        with open(log, "a", encoding="utf-8") as file:
            file.write(f"{_count}\t{unit}\n")
    limit = os.environ.get(KILL_AFTER)
    if limit and _count >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)


def watch_store(store: S) -> S:
    """``store`` (a :class:`bench.store.ResultStore`) with every committed transaction counted as
    a unit; ``store`` itself, untouched, unless fault injection is on. Resets the count."""
    reset()
    if not _enabled():
        return store
    begin = store._tx  # type: ignore[attr-defined]

    def counted() -> _Counted:
        return _Counted(begin())

    store._tx = counted  # type: ignore[attr-defined]
    return store


class _Counted:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> None:
        self.inner.__enter__()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.inner.__exit__(exc_type, *rest)
        if exc_type is None:
            stored("store")
