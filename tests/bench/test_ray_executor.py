"""ROAR/KAR cells through a local Ray cluster give the sequential results, also when a worker dies.

The smoke preset, cut to three methods, the two retraining metrics and fewer images, runs once in-process and
once with its cells (and leakage cells) as Ray tasks on ``ray.init(num_cpus=2)``; the third task
started kills its worker with SIGKILL (``bench.executors.KILL_ONCE``), Ray retries it, and every
stored score, cell and leakage accuracy equals the sequential run's. Skips without Ray, except in
CI (``RECTBENCH_REQUIRE_RAY=1``, set by ``.ci/run``, which installs the ``ray`` extra).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.presets import get_preset
from bench.runner import run_benchmark

pytestmark = pytest.mark.slow

_SMOKE = get_preset("smoke")
#: The smoke preset made small: three methods, the retraining metrics, fewer and shorter cells.
CONFIG = replace(
    _SMOKE.with_overrides(methods=("saliency", "grad_x_input", "random"),
                          metrics=("roar_auc", "kar_aoc")),
    data=replace(_SMOKE.data, n_train=600, n_test=100),
    roar=replace(_SMOKE.roar, n_train=200, n_test=100, epochs=2),
)


def _ray():  # noqa: ANN202
    try:
        import ray
    except ImportError:
        if os.environ.get("RECTBENCH_REQUIRE_RAY", "") not in ("", "0"):
            pytest.fail("ray is not installed and RECTBENCH_REQUIRE_RAY=1 says it must be")
        pytest.skip("ray is not installed (pip install 'rectbench[ray]')")
    return ray


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A local 2-CPU Ray cluster whose workers kill themselves once, at their third task."""
    from bench.executors import KILL_AT, KILL_ONCE

    ray = _ray()
    marker = tmp_path_factory.mktemp("ray") / "killed"
    saved = {k: os.environ.get(k) for k in (KILL_ONCE, KILL_AT)}
    os.environ[KILL_ONCE], os.environ[KILL_AT] = str(marker), "3"  # workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _tables(out: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(out / "results.sqlite")
    try:
        return {
            "scores": con.execute("SELECT method, metric, statistic, value, low, high FROM scores"
                                  " ORDER BY method, metric, statistic").fetchall(),
            "cells": con.execute("SELECT method, mode, fraction, seed, accuracy FROM roar_cells"
                                 " ORDER BY method, mode, fraction, seed").fetchall(),
            "bits": con.execute("SELECT method, mode, fraction, seed, bits FROM roar_correct"
                                " ORDER BY method, mode, fraction, seed").fetchall(),
            "leakage": con.execute("SELECT method, mode, fraction, seed, accuracy FROM leakage"
                                   " ORDER BY method, mode, fraction, seed").fetchall(),
        }
    finally:
        con.close()


def test_ray_cells_equal_sequential_cells_after_a_killed_worker(
    cluster: Path, tmp_path: Path, one_torch_thread: None
) -> None:
    from bench.executors import RayExecutor

    quiet = lambda _: None  # noqa: E731
    run_benchmark(CONFIG, tmp_path / "sequential", progress=False, echo=quiet)
    run_benchmark(CONFIG, tmp_path / "ray", progress=False, echo=quiet, executor=RayExecutor())
    assert cluster.is_file(), "no worker was killed: the retry path was not exercised"
    sequential, distributed = _tables(tmp_path / "sequential"), _tables(tmp_path / "ray")
    # 3 methods x 2 modes x 2 fractions x 1 seed; leakage: both modes of 3 x 2 classifiers
    assert len(sequential["cells"]) == 12 and len(sequential["leakage"]) == 12
    assert len(sequential["bits"]) == 12
    assert any(row[1] in ("roar_auc", "kar_aoc") for row in sequential["scores"])
    for table in ("scores", "cells", "bits", "leakage"):
        assert distributed[table] == sequential[table], table
