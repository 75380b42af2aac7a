"""The result store: one SQLite file per run folder (``DIR/results.sqlite``).

Every write is its own transaction, so a run killed at any moment (even ``kill -9``) loses at most
the unit of work in progress; a rerun asks the store what is done and skips it. The tables are
those of :mod:`common.schema` (the one definition the readers in ``reports/`` use too).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.schema import SCHEMA_VERSION, TABLES, create_sql

__all__ = ["ResultStore"]


class ResultStore:
    """Read and write one run folder's ``results.sqlite``.

    Args:
        path: The SQLite file; created with the schema when missing.

    Raises:
        ValueError: ``path`` exists but is not a rectbench store (a foreign or corrupt file).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self._tx():
                self._check_version()
                for statement in create_sql():
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"{self.path} is not a rectbench result store: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------------------
    def _check_version(self) -> None:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if tables:
                raise ValueError(f"{self.path} is not a rectbench result store (no meta table)")
            return
        row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is not None and row[0] != str(SCHEMA_VERSION):
            raise ValueError(
                f"{self.path}: result store of schema version {row[0]}, written by another "
                f"rectbench version; this one reads version {SCHEMA_VERSION}. Rerun with --fresh "
                "(discards the folder's results) or choose another --out folder"
            )

    def _insert(self, table: str, rows: Iterable[tuple[Any, ...]], *, replace: bool = False) -> None:
        columns = TABLES[table].column_names
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        marks = ", ".join("?" * len(columns))
        self._db.executemany(f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        """Close the store, leaving one plain SQLite file (readers then create no companions);
        while another connection is open the store simply stays in WAL mode."""
        try:
            self._db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.DatabaseError:
            pass
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(
        self, run_id: str, *, preset: str, dataset: str, model: str, config_toml: str,
        env: Mapping[str, Any], started: float, protocol: str = "",
    ) -> None:
        """Record a run (kept as it is when it exists: a resumed run keeps its start time)."""
        with self._tx():
            self._db.execute(
                "INSERT OR IGNORE INTO runs (run_id, preset, dataset, model, protocol, config_toml,"
                " env_json, started) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, preset, dataset, model, protocol, config_toml, json.dumps(dict(env)),
                 started),
            )

    def update_run(self, run_id: str, **values: Any) -> None:
        allowed = {"model_accuracy", "finished", "env_json", "peak_rss_mb"}
        if set(values) - allowed:
            raise ValueError(f"update_run takes {sorted(allowed)}, got {sorted(values)}")
        with self._tx():
            for key, value in values.items():
                self._db.execute(f"UPDATE runs SET {key}=? WHERE run_id=?", (value, run_id))

    # -- per-image scores -----------------------------------------------------------------------
    def put_image_scores(self, run_id: str, method: str, metric: str, values: Iterable[float]) -> None:
        """Store one value per image (index = position), replacing earlier values, atomically."""
        rows = [(run_id, method, metric, i, _real(v)) for i, v in enumerate(values)]
        with self._tx():
            self._db.execute(
                "DELETE FROM image_scores WHERE run_id=? AND method=? AND metric=?",
                (run_id, method, metric),
            )
            self._insert("image_scores", rows)

    def image_scores(self, run_id: str, method: str, metric: str) -> np.ndarray:
        rows = self._db.execute(
            "SELECT value FROM image_scores WHERE run_id=? AND method=? AND metric=? ORDER BY image_index",
            (run_id, method, metric),
        ).fetchall()
        return np.array([np.nan if r[0] is None else r[0] for r in rows], dtype=np.float64)

    # -- ROAR/KAR cells -------------------------------------------------------------------------
    def put_roar_cell(self, run_id: str, method: str, mode: str, fraction: float, seed: int, accuracy: float) -> None:
        with self._tx():
            self._insert(
                "roar_cells", [(run_id, method, mode, float(fraction), int(seed), float(accuracy))],
                replace=True,
            )

    def roar_cells(self, run_id: str, method: str) -> dict[tuple[str, float, int], float]:
        rows = self._db.execute(
            "SELECT mode, fraction, seed, accuracy FROM roar_cells WHERE run_id=? AND method=?",
            (run_id, method),
        )
        return {(m, f, s): a for m, f, s, a in rows}

    # -- summaries, stages, gallery -------------------------------------------------------------
    def put_scores(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the run's tidy ``scores`` table with ``rows``: dicts with ``method, metric,
        higher_is_better, statistic, value`` and optionally ``low, high`` (the interval),
        ``interval`` (its kind, ``common.schema.INTERVAL_KINDS``; default ``"none"``) and ``n``."""
        data = [
            (run_id, r["method"], r["metric"], int(r["higher_is_better"]), r["statistic"],
             _real(r["value"]), _real(r.get("low")), _real(r.get("high")),
             r.get("interval") or "none", r.get("n"))
            for r in rows
        ]
        with self._tx():
            self._db.execute("DELETE FROM scores WHERE run_id=?", (run_id,))
            self._insert("scores", data)

    def put_catalog(
        self, run_id: str, methods: Iterable[Mapping[str, Any]], metrics: Iterable[Mapping[str, Any]]
    ) -> None:
        """Replace the run's ``methods`` and ``metrics`` rows (dicts with the tables' columns but
        ``run_id`` and ``position``; position = order given)."""
        with self._tx():
            for table, rows in (("methods", methods), ("metrics", metrics)):
                columns = TABLES[table].column_names
                self._db.execute(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
                self._insert(table, [
                    tuple(run_id if c == "run_id" else i if c == "position" else row[c]
                          for c in columns)
                    for i, row in enumerate(rows)
                ])

    def put_rows(
        self, table: str, run_id: str, rows: Iterable[Mapping[str, Any]], *,
        replace_where: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert (or replace, by key) ``rows`` of ``table`` for ``run_id`` in one transaction.

        ``rows`` are dicts with the table's columns but ``run_id``. With ``replace_where``, the
        run's rows matching it (column -> value) are deleted first, e.g. ``{"metric": "m"}``.
        """
        columns = TABLES[table].column_names
        data = [tuple(run_id if c == "run_id" else row.get(c) for c in columns) for row in rows]
        with self._tx():
            if replace_where is not None:
                clause = "".join(f" AND {column}=?" for column in replace_where)
                self._db.execute(f"DELETE FROM {table} WHERE run_id=?{clause}",
                                 (run_id, *replace_where.values()))
            self._insert(table, data, replace=True)

    def artifact_key(self, run_id: str, kind: str, name: str) -> str | None:
        """The stored provenance key of a result (None when none is stored)."""
        row = self._db.execute(
            "SELECT key FROM artifacts WHERE run_id=? AND kind=? AND name=?", (run_id, kind, name)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_artifact_key(self, run_id: str, kind: str, name: str, key: str) -> None:
        """Record the provenance key of a result once it is stored."""
        with self._tx():
            self._insert("artifacts", [(run_id, kind, name, key)], replace=True)

    def delete_rows(self, table: str, run_id: str, **where: Any) -> None:
        """Delete the run's rows of ``table`` matching ``where`` (column=value)."""
        if table not in TABLES or table == "meta":
            raise ValueError(f"unknown table {table!r}")
        clause = "".join(f" AND {column}=?" for column in where)
        with self._tx():
            self._db.execute(f"DELETE FROM {table} WHERE run_id=?{clause}", (run_id, *where.values()))

    def put_model(self, run_id: str, role: str, cache_key: str, test_accuracy: float) -> None:
        """Record the run's model of ``role`` (``clean``, ``patch``) and its test accuracy."""
        with self._tx():
            self._insert("models", [(run_id, role, cache_key, float(test_accuracy))], replace=True)

    def add_stage_time(self, run_id: str, stage: str, position: int, seconds: float) -> None:
        """Add ``seconds`` to the stage's wall time (a resumed run's times add up over its
        invocations); ``position`` orders the stages as the run ran them."""
        with self._tx():
            self._db.execute(
                "INSERT INTO stages (run_id, stage, position, seconds) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, stage) DO UPDATE SET seconds = seconds + excluded.seconds,"
                " position = excluded.position",
                (run_id, stage, int(position), float(seconds)),
            )

    def put_gallery(
        self, run_id: str, method: str, indices: Iterable[int], labels: Iterable[int],
        maps: np.ndarray, images: np.ndarray, masks: np.ndarray | Sequence[Any] | None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        """Store display maps (N, H, W) float32, images (N, C, H, W) uint8 and masks (N, H, W)
        bool, or None, or a sequence with None for images without a mask."""
        maps = np.asarray(maps, dtype=np.float32)
        images = np.asarray(images, dtype=np.uint8)
        n, h, w = maps.shape
        rows = []
        for i, (index, label) in enumerate(zip(indices, labels, strict=True)):
            mask = None if masks is None or masks[i] is None else (
                np.asarray(masks[i], dtype=np.uint8).tobytes()
            )
            name = None if class_names is None else class_names[i]
            rows.append((run_id, method, int(index), int(label), name, maps[i].tobytes(),
                         images[i].tobytes(), mask, h, w))
        with self._tx():
            self._db.execute("DELETE FROM gallery WHERE run_id=? AND method=?", (run_id, method))
            self._insert("gallery", rows)

    def table(self, name: str, run_id: str | None = None) -> list[tuple]:
        if name not in TABLES or name == "meta":
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        if run_id is None:
            return self._db.execute(f"SELECT * FROM {name}").fetchall()
        return self._db.execute(f"SELECT * FROM {name} WHERE run_id=?", (run_id,)).fetchall()


def _real(value: Any) -> float | None:
    """SQLite has no NaN (it stores NULL); keep that mapping explicit."""
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
