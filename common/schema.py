"""The result store's schema: every table, its columns, types and key, in one place.

``bench.store.ResultStore`` creates and writes the tables from here; ``reports.store`` reads and
checks them from here; tests write through ``ResultStore``. A change of a table is a change of
:data:`SCHEMA_VERSION`, and a store of another version is refused with a message (never read
half-right).

Tables (one SQLite file per run folder, ``DIR/results.sqlite``; every row carries ``run_id``):

- ``runs``: one row per run: configuration (TOML), environment (JSON), start and finish times.
- ``methods`` / ``metrics``: what the run evaluated, with the capability fields the report needs
  (display label, colour, role, direction, image set, headline concept), in the run's order.
- ``models``: each trained (or loaded) model of the run, by role (``clean``, ``patch``).
- ``image_scores``: one value per (method, metric, image).
- ``roar_cells``: one retrained accuracy per (method, mode, fraction, seed).
- ``scores``: the tidy summary table behind every CSV, plot and HTML table: one row per
  (method, metric, statistic) with its interval ``low``/``high`` and what the interval is over
  (``interval``, see :data:`INTERVAL_KINDS`).
- ``stages``: wall time per stage, in run order (``position``).
- ``gallery``: display maps of a few images per method.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCHEMA_VERSION", "STORE_FILENAME", "Table", "TABLES", "INTERVAL_KINDS", "create_sql"]

SCHEMA_VERSION = 2
STORE_FILENAME = "results.sqlite"

#: What an interval stored in ``scores.low``/``scores.high`` is over.
INTERVAL_KINDS: dict[str, str] = {
    "bootstrap_images": "95 % percentile-bootstrap interval of the statistic over images",
    "seed_range": "minimum and maximum of the per-seed scores (retrained models)",
    "none": "no interval (a single number)",
}


@dataclass(frozen=True)
class Table:
    """One table: ``columns`` as (name, SQLite type) pairs in order, and its primary key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def create_sql(self) -> str:
        body = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({body}, PRIMARY KEY ({', '.join(self.key)}))"


def _table(name: str, columns: str, key: str) -> Table:
    pairs = tuple(tuple(part.split()) for part in columns.split(","))
    return Table(name, pairs, tuple(key.split(",")))  # type: ignore[arg-type]


_TABLES = (
    _table("meta", "key TEXT,value TEXT", "key"),
    _table(
        "runs",
        "run_id TEXT,preset TEXT,dataset TEXT,model TEXT,config_toml TEXT,env_json TEXT,"
        "model_accuracy REAL,started REAL,finished REAL",
        "run_id",
    ),
    _table(
        "methods",
        "run_id TEXT,method TEXT,position INTEGER,label TEXT,role TEXT,color TEXT,"
        "description TEXT,reference TEXT,settings_json TEXT",
        "run_id,method",
    ),
    _table(
        "metrics",
        "run_id TEXT,metric TEXT,position INTEGER,label TEXT,higher_is_better INTEGER,kind TEXT,"
        "image_set TEXT,scale_dependent INTEGER,concept TEXT,description TEXT",
        "run_id,metric",
    ),
    _table("models", "run_id TEXT,role TEXT,cache_key TEXT,test_accuracy REAL", "run_id,role"),
    _table(
        "image_scores",
        "run_id TEXT,method TEXT,metric TEXT,image_index INTEGER,value REAL",
        "run_id,method,metric,image_index",
    ),
    _table(
        "roar_cells",
        "run_id TEXT,method TEXT,mode TEXT,fraction REAL,seed INTEGER,accuracy REAL",
        "run_id,method,mode,fraction,seed",
    ),
    _table(
        "scores",
        "run_id TEXT,method TEXT,metric TEXT,higher_is_better INTEGER,statistic TEXT,value REAL,"
        "low REAL,high REAL,interval TEXT,n INTEGER",
        "run_id,method,metric,statistic",
    ),
    _table("stages", "run_id TEXT,stage TEXT,position INTEGER,seconds REAL", "run_id,stage"),
    _table(
        "gallery",
        "run_id TEXT,method TEXT,image_index INTEGER,label INTEGER,map BLOB,image BLOB,"
        "mask BLOB,height INTEGER,width INTEGER",
        "run_id,method,image_index",
    ),
)

#: Every table by name, in creation order.
TABLES: dict[str, Table] = {table.name: table for table in _TABLES}


def create_sql() -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statements of every table, in order."""
    return [table.create_sql() for table in _TABLES]
