"""Reading the result store: the schema of common/schema.py, read-only, clear errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from reports import list_run_ids, load_run


def test_load_run_reads_every_table_of_the_run(run_dir: Path, facts: SimpleNamespace) -> None:
    tables = load_run(run_dir)
    assert tables.run.run_id == "quick-0001"
    assert (tables.run.preset, tables.run.dataset, tables.run.model) == (
        "quick",
        "cifar10",
        "paper_cnn",
    )
    assert tables.run.model_accuracy == pytest.approx(0.714)
    assert tables.run.finished - tables.run.started == pytest.approx(1234.5)
    # 4 per-image metrics x 2 statistics + roar_auc and kar_aoc, for each method
    assert len(tables.scores) == len(facts.METHODS) * (len(facts.MEDIANS) * 2 + 2)
    assert len(tables.image_scores) == len(facts.METHODS) * len(facts.MEDIANS) * facts.N_IMAGES
    assert len(tables.roar_cells) == len(facts.METHODS) * 2 * len(facts.FRACTIONS) * len(
        facts.SEEDS
    )
    assert list(tables.stages["stage"]) == [s for s, _ in facts.STAGES]
    assert len(tables.gallery) == 2 * len(facts.METHODS)
    assert list(tables.methods["method"]) == list(facts.METHODS)
    assert tables.methods.set_index("method").loc["random", "role"] == "chance"
    assert set(tables.metrics["metric"]) == set(facts.DIRECTIONS)


def test_a_store_of_another_schema_version_is_refused(
    run_dir: Path, store_writer: Callable[..., Path]
) -> None:
    con = sqlite3.connect(run_dir / "results.sqlite")
    with con:
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    con.close()
    with pytest.raises(ValueError, match="schema version 1.*--fresh"):
        load_run(run_dir)


def test_load_run_leaves_the_store_untouched(run_dir: Path) -> None:
    store = run_dir / "results.sqlite"
    before = store.read_bytes()
    load_run(run_dir)
    assert store.read_bytes() == before
    assert sorted(p.name for p in run_dir.iterdir()) == ["results.sqlite"]


def test_latest_run_is_default_and_others_selectable(
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    run_dir = store_writer(tmp_path / "r", run_id="a")
    con = sqlite3.connect(run_dir / "results.sqlite")
    with con:
        con.execute("UPDATE runs SET started = started - 100")
    con.close()
    store_writer(run_dir, run_id="b", preset="paper")
    assert list_run_ids(run_dir) == ["a", "b"]
    assert load_run(run_dir).run.run_id == "b"
    older = load_run(run_dir, "a")
    assert older.run.preset == "quick"
    assert set(older.scores["run_id"]) == {"a"}
    with pytest.raises(ValueError, match="'zzz' not in .*stored: a, b"):
        load_run(run_dir, "zzz")


def test_missing_folder_and_missing_store(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no result store"):
        load_run(tmp_path)
    assert not (tmp_path / "results.sqlite").exists()  # the check must not create a database


def test_foreign_files_raise_value_error(tmp_path: Path) -> None:
    (tmp_path / "results.sqlite").write_text("name,value\na,1\n")
    with pytest.raises(ValueError, match="not SQLite"):
        load_run(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    con = sqlite3.connect(other / "results.sqlite")
    con.execute("CREATE TABLE runs (run_id TEXT)")
    con.close()
    with pytest.raises(ValueError, match="table\\(s\\) meta, scores, methods, metrics missing"):
        load_run(other)


def test_wrong_columns_raise_naming_table_and_columns(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "results.sqlite")
    con.executescript(
        "CREATE TABLE meta (key TEXT, value TEXT);"
        "CREATE TABLE runs (run_id TEXT, preset TEXT);"
        "CREATE TABLE scores (run_id TEXT, method TEXT, metric TEXT);"
        "CREATE TABLE methods (run_id TEXT); CREATE TABLE metrics (run_id TEXT);"
    )
    con.close()
    with pytest.raises(ValueError, match="table 'runs' lacks column\\(s\\) dataset"):
        load_run(tmp_path)


def test_store_without_runs_raises(tmp_path: Path, store_writer: Callable[..., Path]) -> None:
    run_dir = store_writer(tmp_path / "r")
    con = sqlite3.connect(run_dir / "results.sqlite")
    with con:
        con.execute("DELETE FROM runs")
    con.close()
    with pytest.raises(ValueError, match="holds no run"):
        load_run(run_dir)


def test_absent_optional_tables_become_empty(
    tmp_path: Path, store_writer: Callable[..., Path], facts: SimpleNamespace
) -> None:
    run_dir = store_writer(
        tmp_path / "r",
        with_stages=False,
        with_image_scores=False,
        with_retraining=False,
        with_gallery=False,
    )
    tables = load_run(run_dir)
    for frame in (tables.image_scores, tables.roar_cells, tables.stages, tables.gallery):
        assert frame.empty
    assert list(tables.roar_cells.columns) == [
        "run_id",
        "method",
        "mode",
        "fraction",
        "seed",
        "accuracy",
    ]
    assert len(tables.scores) == len(facts.METHODS) * len(facts.MEDIANS) * 2
