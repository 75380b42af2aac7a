"""Reading the result store: the schema of common/schema.py, read-only, clear errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from reports import Catalog, list_run_ids, load_run


def test_load_run_reads_every_table_of_the_run(run_dir: Path, fx: ModuleType) -> None:
    tables = load_run(run_dir)
    run = tables.run
    assert (run.run_id, run.preset, run.dataset, run.model) == (
        "quick-0001", "quick", "cifar10", "paper_cnn")
    assert (run.protocol, run.peak_rss_mb) == ("p-3f2a9c", 1843.5)
    n_methods, n_seeds = len(fx.METHODS), 2
    # per-image metrics: median + mean per method with a value; retraining: one value each
    per_image = [m for m in fx.METRICS if m not in ("roar_auc", "kar_aoc")]
    with_value = sum(v is not None for m in per_image for v in fx.MEDIANS[m].values())
    assert len(tables.scores) == 2 * with_value + 2 * n_methods
    assert len(tables.image_scores) == with_value * 11
    cells = n_methods * 2 * len(fx.FRACTIONS) * n_seeds
    assert len(tables.roar_cells) == cells and len(tables.leakage) == cells
    assert list(tables.stages["stage"]) == [s for s, _ in fx.STAGES]
    assert list(tables.stages["stage"])[-2:] == ["report", "total"]
    assert dict(zip(tables.estimates["stage"], tables.estimates["seconds"], strict=True)) == (
        fx.ESTIMATES)
    assert len(tables.gallery) == 6 * n_methods
    assert set(tables.gallery["class_name"]) == {"airplane", "automobile", "bird"}
    assert list(tables.methods["method"]) == list(fx.METHODS)
    assert tables.methods.set_index("method")["role"].to_dict() == {
        "saliency": "method", "grad_x_input": "method", "rectgrad": "method",
        "random": "chance", "edge_sobel": "control"}
    assert list(tables.metrics["metric"]) == list(fx.METRICS)
    assert tables.metrics.set_index("metric").loc["kar_aoc", "concept"] == "kar"
    assert dict(zip(tables.models["role"], tables.models["test_accuracy"], strict=True)) == {
        "clean": 0.714, "patch": 0.702}
    assert set(tables.comparisons["verdict"]) == {"reference", "not_separable", "worse", "better"}
    assert tables.resolution.set_index("metric").loc["roar_auc", "resolved"] == 0
    assert set(tables.curves["experiment"]) == {
        "sweep:rectgrad.percentile", "feature_occlusion", "noise_accumulation"}
    assert tables.map_checks["n_zero"].sum() == 2
    assert set(tables.image_sets["image_set"]) == {"eval", "masked", "patch"}


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
    tmp_path: Path, store_writer: Callable[..., Path]
) -> None:
    run_dir = store_writer(tmp_path / "r", with_image_scores=False, optional=False)
    tables = load_run(run_dir)
    for name in ("image_scores", "roar_cells", "stages", "gallery", "comparisons", "resolution",
                 "leakage", "curves", "map_checks", "image_sets", "estimates", "models"):
        assert getattr(tables, name).empty, name
    assert list(tables.roar_cells.columns) == [
        "run_id", "method", "mode", "fraction", "seed", "accuracy"]
    assert not tables.scores.empty


def test_the_stored_headline_column_picks_each_concepts_metric(run_dir: Path) -> None:
    """``metrics.headline`` (from ``MetricSpec.headline``) picks the metric of each concept."""
    con = sqlite3.connect(run_dir / "results.sqlite")
    with con:
        con.execute("UPDATE metrics SET headline = metric IN ('patch_attribution', "
                    "'background_fraction', 'total_variation', 'roar_auc', 'kar_aoc')")
    con.close()
    assert Catalog.of(load_run(run_dir)).headline_metrics() == {
        "patch": "patch_attribution", "background": "background_fraction",
        "noise": "total_variation", "roar": "roar_auc", "kar": "kar_aoc"}
