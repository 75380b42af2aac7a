"""kill -9 at seeded moments, then a rerun, gives the uninterrupted run's leaderboard.

The moment is chosen by progress, not by the clock: ``RECTBENCH_FAULT_KILL_AFTER=N`` makes the run
SIGKILL itself right after its N-th stored unit (a store transaction or a cache file, see
:mod:`bench.faults`), so the test never depends on the machine's speed. Three moments are drawn
per test session from ``RECTBENCH_FAULT_SEED`` (default 0; CI may pass its build number), out of
the units a reference run stores; a failure names the seed and the moment.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from bench import faults
from bench.config import RunConfig
from bench.run_folder import LOCK
from bench.runner import run_benchmark
from reports import load_run, run_leaderboard

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

SEED = int(os.environ.get("RECTBENCH_FAULT_SEED", "0"))
MOMENTS = 3


def _board(out: Path, run_id: str) -> pd.DataFrame:
    tables = load_run(out, run_id)
    return run_leaderboard(tables).set_index("method")


@pytest.fixture(scope="module")
def faulted(small_run: RunConfig, one_torch_thread: None) -> RunConfig:
    """Two methods, a per-image metric and ROAR (cells), so that kills land in every stage."""
    return replace(small_run, methods=("saliency", "rectgrad"), metrics=("total_variation", "roar_auc"),
                   roar=replace(small_run.roar, modes=("roar",), n_train=80, n_test=20))


@pytest.fixture(scope="module")
def reference(faulted: RunConfig, tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted run's leaderboard and the units it stored, in order."""
    out = tmp_path_factory.mktemp("reference")
    log = out.parent / "units.log"
    os.environ[faults.LOG] = str(log)
    try:
        result = run_benchmark(faulted, out / "run", progress=False, echo=lambda _: None)
    finally:
        del os.environ[faults.LOG]
    units = [line.split("\t")[1] for line in log.read_text().splitlines()]
    return _board(out / "run", result.run_id), units


def test_the_reference_run_stores_units_in_every_stage(reference) -> None:
    _, units = reference
    assert any(u.startswith("cache models/") for u in units)
    assert any(u.startswith("cache maps/") for u in units)
    assert units.count("store") > 10


@pytest.mark.parametrize("draw", range(MOMENTS))
def test_kill_9_at_a_seeded_moment_then_rerun_gives_the_reference_leaderboard(
    draw: int, reference, faulted: RunConfig, tmp_path: Path
) -> None:
    board, units = reference
    moment = sorted(random.Random(SEED).sample(range(1, len(units)), MOMENTS))[draw]
    where = f"RECTBENCH_FAULT_SEED={SEED}: killed after unit {moment} of {len(units)} ({units[moment - 1]})"
    config = tmp_path / "faulted.toml"
    config.write_text(faulted.to_toml())
    out = tmp_path / "run"
    env = {**os.environ, faults.KILL_AFTER: str(moment), "OMP_NUM_THREADS": "1"}
    env.pop(faults.LOG, None)
    killed = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "--config", str(config), "--out", str(out),
         "--no-progress", "--no-report"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, f"{where}: exit {killed.returncode}\n{killed.stderr[-2000:]}"
    assert (out / LOCK).exists()  # a killed run leaves its lock behind
    if (out / "results.sqlite").exists():
        con = sqlite3.connect(out / "results.sqlite")
        finished = con.execute("SELECT finished FROM runs").fetchall()
        con.close()
        assert finished in ([], [(None,)]), where
    with pytest.warns(UserWarning, match="taking over the lock"):
        result = run_benchmark(faulted, out, progress=False, echo=lambda _: None)
    assert not (out / LOCK).exists()
    assert list(out.rglob("*.tmp")) == [], where
    pd.testing.assert_frame_equal(_board(out, result.run_id), board, obj=where)
