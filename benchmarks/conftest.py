"""Benchmark session setup: the first run on a machine becomes the baseline instead of an error.

``make benchmark`` / ``tox -e benchmark`` compare with the last saved run and fail on a slow-down
(``--benchmark-compare --benchmark-compare-fail=median:25%``). pytest-benchmark refuses that when
nothing is saved yet, which is the case on every fresh checkout (``.benchmarks/`` is not
committed: timings belong to a machine), so the comparison is dropped for that first run.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest


def _saved_runs(config: pytest.Config) -> bool:
    storage = str(config.getoption("benchmark_storage", None) or "file://./.benchmarks")
    if not storage.startswith("file://"):
        return True  # another backend (elasticsearch): let pytest-benchmark decide
    root = Path(config.rootpath, storage.removeprefix("file://"))
    return root.is_dir() and any(root.rglob("*.json"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("benchmark_compare", None) and not _saved_runs(config):
        config.option.benchmark_compare = []
        config.option.benchmark_compare_fail = None
        warnings.warn("no saved benchmark run to compare with yet: this run is saved as the baseline",
                      stacklevel=1)
