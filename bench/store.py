"""The result store: one SQLite file per run folder (``DIR/results.sqlite``).

Every write is its own transaction, so a run killed at any moment (even ``kill -9``) loses at most
the unit of work in progress; a rerun asks the store what is done and skips it. The schema is
documented in docs/ARCHITECTURE.md; ``reports/`` reads it with plain SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ResultStore", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, preset TEXT, dataset TEXT, model TEXT, config_toml TEXT,
    env_json TEXT, model_accuracy REAL, started REAL, finished REAL
);
CREATE TABLE IF NOT EXISTS image_scores (
    run_id TEXT, method TEXT, metric TEXT, image_index INTEGER, value REAL,
    PRIMARY KEY (run_id, method, metric, image_index)
);
CREATE TABLE IF NOT EXISTS roar_cells (
    run_id TEXT, method TEXT, mode TEXT, fraction REAL, seed INTEGER, accuracy REAL,
    PRIMARY KEY (run_id, method, mode, fraction, seed)
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT, method TEXT, metric TEXT, higher_is_better INTEGER, statistic TEXT,
    value REAL, ci_low REAL, ci_high REAL, n INTEGER,
    PRIMARY KEY (run_id, method, metric, statistic)
);
CREATE TABLE IF NOT EXISTS stages (
    run_id TEXT, stage TEXT, seconds REAL, PRIMARY KEY (run_id, stage)
);
CREATE TABLE IF NOT EXISTS gallery (
    run_id TEXT, method TEXT, image_index INTEGER, label INTEGER, map BLOB, image BLOB,
    mask BLOB, height INTEGER, width INTEGER, PRIMARY KEY (run_id, method, image_index)
);
"""


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
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._db.execute(statement)
                row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
                if row is None:
                    self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                elif int(row[0]) != SCHEMA_VERSION:
                    raise ValueError(
                        f"{self.path}: store schema {row[0]} is not the supported {SCHEMA_VERSION}"
                    )
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"{self.path} is not a rectbench result store: {exc}") from exc

    # -- plumbing -------------------------------------------------------------------------------
    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -----------------------------------------------------------------------------------
    def begin_run(
        self, run_id: str, *, preset: str, dataset: str, model: str, config_toml: str,
        env: Mapping[str, Any], started: float,
    ) -> None:
        """Record a run (kept as it is when it exists: a resumed run keeps its start time)."""
        with self._tx():
            self._db.execute(
                "INSERT OR IGNORE INTO runs (run_id, preset, dataset, model, config_toml, env_json, started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, preset, dataset, model, config_toml, json.dumps(dict(env)), started),
            )

    def update_run(self, run_id: str, **values: Any) -> None:
        allowed = {"model_accuracy", "finished", "env_json"}
        if set(values) - allowed:
            raise ValueError(f"update_run takes {sorted(allowed)}, got {sorted(values)}")
        with self._tx():
            for key, value in values.items():
                self._db.execute(f"UPDATE runs SET {key}=? WHERE run_id=?", (value, run_id))

    def run_ids(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT run_id FROM runs ORDER BY started")]

    # -- per-image scores -----------------------------------------------------------------------
    def has_image_scores(self, run_id: str, method: str, metric: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM image_scores WHERE run_id=? AND method=? AND metric=? LIMIT 1",
            (run_id, method, metric),
        ).fetchone()
        return row is not None

    def put_image_scores(self, run_id: str, method: str, metric: str, values: Iterable[float]) -> None:
        """Store one value per image (index = position), replacing earlier values, atomically."""
        rows = [(run_id, method, metric, i, _real(v)) for i, v in enumerate(values)]
        with self._tx():
            self._db.execute(
                "DELETE FROM image_scores WHERE run_id=? AND method=? AND metric=?",
                (run_id, method, metric),
            )
            self._db.executemany("INSERT INTO image_scores VALUES (?, ?, ?, ?, ?)", rows)

    def image_scores(self, run_id: str, method: str, metric: str) -> np.ndarray:
        rows = self._db.execute(
            "SELECT value FROM image_scores WHERE run_id=? AND method=? AND metric=? ORDER BY image_index",
            (run_id, method, metric),
        ).fetchall()
        return np.array([np.nan if r[0] is None else r[0] for r in rows], dtype=np.float64)

    # -- ROAR/KAR cells -------------------------------------------------------------------------
    def put_roar_cell(self, run_id: str, method: str, mode: str, fraction: float, seed: int, accuracy: float) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR REPLACE INTO roar_cells VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, method, mode, float(fraction), int(seed), float(accuracy)),
            )

    def roar_cells(self, run_id: str, method: str) -> dict[tuple[str, float, int], float]:
        rows = self._db.execute(
            "SELECT mode, fraction, seed, accuracy FROM roar_cells WHERE run_id=? AND method=?",
            (run_id, method),
        )
        return {(m, f, s): a for m, f, s, a in rows}

    # -- summaries, stages, gallery -------------------------------------------------------------
    def put_scores(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace the run's tidy ``scores`` table with ``rows`` (dicts with the table's columns)."""
        data = [
            (run_id, r["method"], r["metric"], r["higher_is_better"], r["statistic"],
             _real(r["value"]), _real(r.get("ci_low")), _real(r.get("ci_high")), r.get("n"))
            for r in rows
        ]
        with self._tx():
            self._db.execute("DELETE FROM scores WHERE run_id=?", (run_id,))
            self._db.executemany("INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", data)

    def add_stage_time(self, run_id: str, stage: str, seconds: float) -> None:
        """Add ``seconds`` to the stage's wall time: a resumed run's times add up over invocations."""
        with self._tx():
            self._db.execute(
                "INSERT INTO stages VALUES (?, ?, ?) ON CONFLICT (run_id, stage)"
                " DO UPDATE SET seconds = seconds + excluded.seconds",
                (run_id, stage, float(seconds)),
            )

    def has_gallery(self, run_id: str, method: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM gallery WHERE run_id=? AND method=? LIMIT 1", (run_id, method)
        ).fetchone()
        return row is not None

    def put_gallery(
        self, run_id: str, method: str, indices: Iterable[int], labels: Iterable[int],
        maps: np.ndarray, images: np.ndarray, masks: np.ndarray | None,
    ) -> None:
        """Store display maps (N, H, W) float32, images (N, C, H, W) uint8, masks (N, H, W) bool."""
        maps = np.asarray(maps, dtype=np.float32)
        images = np.asarray(images, dtype=np.uint8)
        n, h, w = maps.shape
        rows = []
        for i, (index, label) in enumerate(zip(indices, labels, strict=True)):
            mask = None if masks is None else np.asarray(masks[i], dtype=np.uint8).tobytes()
            rows.append((run_id, method, int(index), int(label), maps[i].tobytes(), images[i].tobytes(), mask, h, w))
        with self._tx():
            self._db.execute("DELETE FROM gallery WHERE run_id=? AND method=?", (run_id, method))
            self._db.executemany("INSERT INTO gallery VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    def table(self, name: str, run_id: str | None = None) -> list[tuple]:
        if name not in {"runs", "image_scores", "roar_cells", "scores", "stages", "gallery"}:
            raise ValueError(f"unknown table {name!r}")
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
