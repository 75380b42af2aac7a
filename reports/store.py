"""Read a run's result store (``DIR/results.sqlite``) into pandas tables, read-only.

The schema is :mod:`common.schema` (the runner writes it with ``bench.store``). This module only
reads: it opens the database in SQLite's read-only mode, so building a report can never create or
change a store.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field, fields
from pathlib import Path

import pandas as pd

from common.schema import SCHEMA_VERSION, STORE_FILENAME, TABLES

__all__ = [
    "STORE_FILENAME",
    "TABLE_COLUMNS",
    "RunInfo",
    "RunTables",
    "load_run",
    "list_run_ids",
]

#: The columns of every table of the store (from :mod:`common.schema`, the writer's definition).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    name: table.column_names for name, table in TABLES.items() if name != "meta"
}


# Without these a file is not a rectbench store of this version; the others may hold no rows
# (a run without ROAR, a run stopped before the gallery) and become empty tables.
_REQUIRED_TABLES = ("meta", "runs", "scores", "methods", "metrics")


@dataclass(frozen=True)
class RunInfo:
    """One row of the ``runs`` table.

    ``model_accuracy`` is stored as the runner wrote it (a fraction in [0, 1] or a percentage);
    ``started``/``finished`` are Unix times in seconds, ``finished`` ``None`` while a run is open.
    """

    run_id: str
    preset: str
    dataset: str
    model: str
    config_toml: str
    env_json: str
    model_accuracy: float | None
    started: float | None
    finished: float | None
    protocol: str = ""
    peak_rss_mb: float | None = None


@dataclass(frozen=True)
class RunTables:
    """Every stored table of one run, each filtered to that run (column names as in the store).

    Tables the store does not have, or that hold no rows for the run, are empty DataFrames with
    the schema's columns, so that callers test ``.empty`` instead of catching errors.
    """

    run: RunInfo
    scores: pd.DataFrame
    image_scores: pd.DataFrame
    roar_cells: pd.DataFrame
    stages: pd.DataFrame
    gallery: pd.DataFrame
    methods: pd.DataFrame
    metrics: pd.DataFrame
    models: pd.DataFrame
    comparisons: pd.DataFrame
    resolution: pd.DataFrame
    image_sets: pd.DataFrame
    map_checks: pd.DataFrame
    leakage: pd.DataFrame
    curves: pd.DataFrame
    estimates: pd.DataFrame
    #: Tables of the schema this reader has no field for (a later schema's, e.g. ``notes``).
    extra: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Kendall's tau between the rankings under the paper's and the uniform map rule, per metric.
    rule_agreement: pd.DataFrame = field(default_factory=lambda: _empty_table("rule_agreement"))
    #: Paired tests of each blurred control against its method, per metric.
    control_pairs: pd.DataFrame = field(default_factory=lambda: _empty_table("control_pairs"))


def _empty_table(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in TABLE_COLUMNS[table]})


def _store_path(run_dir: Path) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir: no such folder: {run_dir}")
    path = run_dir / STORE_FILENAME
    if not path.is_file():
        raise FileNotFoundError(
            f"run_dir: no result store at {path} (run `rectbench run --out {run_dir}` first)"
        )
    return path


def _connect(path: Path) -> sqlite3.Connection:
    # mode=ro: a report must never create or modify the store it reads.
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _existing_tables(con: sqlite3.Connection, path: Path) -> set[str]:
    try:
        rows = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{path} is not a rectbench result store (not SQLite: {err})") from err
    tables = {name for (name,) in rows}
    if "runs" in tables and "meta" in tables:
        version = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if version is not None and version[0] != str(SCHEMA_VERSION):
            raise ValueError(
                f"{path}: result store of schema version {version[0]}; this rectbench reads "
                f"version {SCHEMA_VERSION} (rerun the run with --fresh to rebuild it)"
            )
    missing = [t for t in _REQUIRED_TABLES if t not in tables]
    if missing:
        raise ValueError(
            f"{path} is not a rectbench result store of version {SCHEMA_VERSION}: table(s) "
            f"{', '.join(missing)} missing"
        )
    for table in (t for t in TABLE_COLUMNS if t in tables):
        columns = {row[1] for row in con.execute(f"PRAGMA table_info({table})")}
        absent = [c for c in TABLE_COLUMNS[table] if c not in columns]
        if absent:
            raise ValueError(
                f"{path}: table {table!r} lacks column(s) {', '.join(absent)} "
                "(a foreign file or another schema version)"
            )
    return tables


def _read_table(con: sqlite3.Connection, tables: set[str], table: str, run_id: str) -> pd.DataFrame:
    columns = TABLE_COLUMNS[table]
    if table not in tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    order = " ORDER BY position" if "position" in columns else ""
    query = f"SELECT {', '.join(columns)} FROM {table} WHERE run_id = ?{order}"
    return pd.read_sql_query(query, con, params=(run_id,))


def list_run_ids(run_dir: Path) -> list[str]:
    """The run ids stored in ``run_dir/results.sqlite``, oldest first (by ``started``)."""
    path = _store_path(run_dir)
    con = _connect(path)
    try:
        _existing_tables(con, path)
        rows = con.execute("SELECT run_id FROM runs ORDER BY started, run_id").fetchall()
    finally:
        con.close()
    return [run_id for (run_id,) in rows]


def load_run(run_dir: Path, run_id: str | None = None) -> RunTables:
    """Read one run of ``run_dir/results.sqlite``.

    Args:
        run_dir: The run folder (holds ``results.sqlite``).
        run_id: Which run to read; ``None`` reads the most recently started one.

    Returns:
        The run's tables (see :class:`RunTables`).

    Raises:
        FileNotFoundError: ``run_dir`` or its store is missing.
        ValueError: the file is not a rectbench store, holds no run, or lacks ``run_id``.
    """
    path = _store_path(run_dir)
    con = _connect(path)
    try:
        tables = _existing_tables(con, path)
        runs = pd.read_sql_query(
            f"SELECT {', '.join(TABLE_COLUMNS['runs'])} FROM runs ORDER BY started, run_id", con
        )
        if runs.empty:
            raise ValueError(f"{path}: the store holds no run (table 'runs' is empty)")
        if run_id is None:
            row = runs.iloc[-1]
        else:
            match = runs[runs["run_id"] == run_id]
            if match.empty:
                raise ValueError(
                    f"run_id: {run_id!r} not in {path}; stored: {', '.join(runs['run_id'])}"
                )
            row = match.iloc[0]
        info = RunInfo(
            run_id=str(row["run_id"]),
            preset=str(row["preset"]),
            dataset=str(row["dataset"]),
            model=str(row["model"]),
            config_toml=str(row["config_toml"] or ""),
            env_json=str(row["env_json"] or ""),
            model_accuracy=_optional_float(row["model_accuracy"]),
            started=_optional_float(row["started"]),
            finished=_optional_float(row["finished"]),
            protocol=str(row["protocol"] or ""),
            peak_rss_mb=_optional_float(row["peak_rss_mb"]),
        )
        loaded = {
            t: _read_table(con, tables, t, info.run_id)
            for t in TABLE_COLUMNS if t != "runs"
        }
    finally:
        con.close()
    known = {f.name for f in fields(RunTables)}
    extra = {t: frame for t, frame in loaded.items() if t not in known}
    return RunTables(run=info, extra=extra, **{t: f for t, f in loaded.items() if t in known})


def _optional_float(value: object) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)  # type: ignore[arg-type]
