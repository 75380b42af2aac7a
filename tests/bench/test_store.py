"""The result store: transactions, resumption after a crash, foreign files."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench.store import ResultStore


def _begin(store: ResultStore, run_id: str = "r") -> None:
    store.begin_run(run_id, preset="smoke", dataset="d", model="m", config_toml="", env={}, started=1.0)


def test_image_scores_round_trip_nan_as_null(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        store.put_image_scores("r", "rectgrad", "total_variation", [1.5, float("nan"), -2.0])
        got = store.image_scores("r", "rectgrad", "total_variation")
        assert got[0] == 1.5 and math.isnan(got[1]) and got[2] == -2.0
        store.put_image_scores("r", "rectgrad", "total_variation", [7.0])  # replaces, not appends
        assert store.image_scores("r", "rectgrad", "total_variation").tolist() == [7.0]


def test_begin_run_keeps_the_first_start_time_on_resume(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        store.begin_run("r", preset="smoke", dataset="d", model="m", config_toml="", env={}, started=99.0)
        assert store.table("runs")[0][8] == 1.0  # started


def test_a_process_killed_mid_write_loses_only_the_unfinished_transaction(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    script = textwrap.dedent(f"""
        import os, signal
        from bench.store import ResultStore
        s = ResultStore({str(path)!r})
        s.begin_run("r", preset="p", dataset="d", model="m", config_toml="", env={{}}, started=0.0)
        s.put_roar_cell("r", "saliency", "roar", 0.1, 0, 0.5)
        s._db.execute("BEGIN IMMEDIATE")
        s._db.execute("INSERT INTO roar_cells VALUES ('r', 'saliency', 'roar', 0.5, 0, 0.4)")
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ})
    assert proc.returncode == -9
    with ResultStore(path) as store:
        assert store.roar_cells("r", "saliency") == {("roar", 0.1, 0): 0.5}


def test_scores_and_gallery(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        store.put_scores("r", [dict(method="a", metric="m", higher_is_better=0, statistic="median",
                                    value=float("nan"), low=1.0, high=2.0,
                                    interval="bootstrap_images", n=3)])
        assert store.table("scores") == [
            ("r", "a", "m", 0, "median", None, 1.0, 2.0, "bootstrap_images", 3)
        ]
        maps = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
        images = np.zeros((2, 3, 4, 4), np.uint8)
        store.put_gallery("r", "a", [5, 6], [1, 2], maps, images, None)
        row = store.table("gallery")[1]
        assert row[2] == 6 and np.frombuffer(row[5], np.float32).reshape(4, 4)[3, 3] == 31.0


def test_foreign_files_raise_value_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(ValueError, match="not a rectbench result store"):
        ResultStore(junk)
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema', '999')")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="schema version 999.*--fresh"):
        ResultStore(other)
    tables_only = tmp_path / "tables.sqlite"
    con = sqlite3.connect(tables_only)
    con.execute("CREATE TABLE things (x)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="not a rectbench result store"):
        ResultStore(tables_only)


def test_stage_times_add_up_over_invocations_of_a_resumed_run(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        store.add_stage_time("r", "models", 1, 100.0)
        store.add_stage_time("r", "models", 1, 0.5)  # the rerun found the model cached
        store.add_stage_time("r", "data", 0, 2.0)
        assert sorted(store.table("stages")) == [("r", "data", 0, 2.0), ("r", "models", 1, 100.5)]


def test_artifact_keys_and_row_deletion(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        assert store.artifact_key("r", "image_scores", "a|m") is None
        store.set_artifact_key("r", "image_scores", "a|m", "k1")
        store.set_artifact_key("r", "image_scores", "a|m", "k2")
        assert store.artifact_key("r", "image_scores", "a|m") == "k2"
        store.put_roar_cell("r", "a", "roar", 0.1, 0, 0.5)
        store.put_roar_cell("r", "b", "roar", 0.1, 0, 0.6)
        store.delete_rows("roar_cells", "r", method="a")
        assert store.roar_cells("r", "a") == {} and store.roar_cells("r", "b")


def test_catalog_and_models_tables(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "s.sqlite") as store:
        _begin(store)
        method = dict(method="a", label="A", role="chance", color=None, description="d",
                      reference="r", settings_json="{}")
        metric = dict(metric="m", label="M", higher_is_better=1, kind="per_image",
                      image_set="masked", scale_dependent=0, concept=None, headline=0,
                      description="")
        store.put_catalog("r", [method, dict(method, method="b")], [metric])
        assert [row[1:4] for row in store.table("methods")] == [("a", 0, "A"), ("b", 1, "A")]
        store.put_catalog("r", [method], [metric])  # replaces
        assert len(store.table("methods")) == 1
        store.put_model("r", "clean", "abc", 0.7)
        assert store.table("models") == [("r", "clean", "abc", 0.7)]
