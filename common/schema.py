"""The result store's schema: every table, its columns, types and key, in one place.

``bench.store.ResultStore`` creates and writes the tables from here; ``reports.store`` reads and
checks them from here; tests write through ``ResultStore``. A change of a table is a change of
:data:`SCHEMA_VERSION`, and a store of another version is refused with a message (never read
half-right).

Tables (one SQLite file per run folder, ``DIR/results.sqlite``; every row carries ``run_id``):

- ``runs``: one row per run: configuration (TOML), environment (JSON), start and finish times,
  ``protocol`` (a hash of everything that makes runs comparable: data, model, training and
  evaluation settings, not the methods, metrics, seed or device) and the peak memory.
- ``methods`` / ``metrics``: what the run evaluated, with the capability fields the report needs
  (display label, colour, role, direction, image set, headline concept), in the run's order.
- ``models``: each trained (or loaded) model of the run, by role (``clean``, ``patch``).
- ``image_scores``: one value per (method, metric, image).
- ``roar_cells``: one retrained accuracy per (method, mode, fraction, seed).
- ``roar_correct``: per ROAR/KAR cell, which test images the retrained model classifies
  correctly (``n`` bits, ``numpy.packbits`` order), for paired bootstraps over test images.
- ``scores``: the tidy summary table behind every CSV, plot and HTML table: one row per
  (method, metric, statistic) with its interval ``low``/``high`` and what the interval is over
  (``interval``, see :data:`INTERVAL_KINDS`).
- ``comparisons``: paired tests of each method against a reference method (the metric's best
  method; for ROAR/KAR also the chance baseline): the difference (method - reference), its
  interval, the Holm-adjusted p-value, the test's name and a verdict.
- ``differences``: ROAR/KAR's paired differences of each method from the chance baseline (Random),
  one row per interval kind (over seeds, over test images, over both), with the standard error.
- ``resolution``: per metric, whether the run can rank methods on it, and why not.
- ``image_sets``: which images each image set holds (source index, class), so every subset is
  recorded.
- ``map_checks``: per method and image set, how many maps are all zero (silent failures).
- ``leakage``: ROAR/KAR's leakage control: accuracy of a classifier trained on the removal masks.
- ``curves``: series of the paper's other experiments (threshold sweep, feature-map occlusion,
  noise accumulation): one row per (experiment, method, series, x); ``x_label`` names a point
  whose x is a position rather than a value (the sweep's ``tau=0`` endpoint, a layer's name).
- ``rule_agreement``: per metric scored under both map rules (``<metric>`` and
  ``<metric>@uniform``), Kendall's tau between the two rankings of the real methods, its p-value
  and the number of methods ranked.
- ``control_pairs``: paired tests of each blurred control ``X+blur`` against its method ``X``, per
  metric: the difference (control - method), its interval, the p-value (Holm-adjusted within the
  metric) and a verdict: ``better`` (blurring the map improves the score), ``worse``,
  ``not_separable``, or ``untested`` (one retraining seed: no paired test).
- ``estimates``: the predicted wall time of each stage, printed before the run (from throughputs
  measured on the machine); the actual times are in ``stages``.
- ``notes``: sentences the report must show, by kind (``deviation``: where the run's protocol
  differs from the paper's; ``warning``: e.g. all-zero maps).
- ``artifacts``: the provenance key of each stored result (per-image scores of a method and
  metric, a method's ROAR/KAR cells, its gallery): the hash of everything the result depends on
  (model, method and metric settings and versions, images, software versions). A rerun
  recomputes exactly the results whose key changed.
- ``stages``: wall time per stage, in run order (``position``).
- ``gallery``: display maps of a few images per method.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "SCHEMA_VERSION",
    "STORE_FILENAME",
    "Table",
    "TABLES",
    "INTERVAL_KINDS",
    "VERDICTS",
    "create_sql",
]

SCHEMA_VERSION = 4
STORE_FILENAME = "results.sqlite"

#: What an interval stored in ``scores.low``/``scores.high`` is over.
INTERVAL_KINDS: dict[str, str] = {
    "bootstrap_images": "95 % percentile-bootstrap interval of the statistic over images",
    "bootstrap_models_images": "95 % bootstrap interval over trained models and their images",
    "bootstrap_pairs": "95 % bootstrap interval of the paired difference over shared images",
    "t_seeds": "95 % t-interval over retraining seeds (paired by seed where a difference)",
    "seed_range": "minimum and maximum of the per-seed scores (retrained models)",
    "none": "no interval (a single number)",
}

#: Verdicts of a paired comparison with the metric's reference (its best method).
VERDICTS: dict[str, str] = {
    "reference": "the best method of the metric (the reference of the comparisons)",
    "not_separable": "the paired test does not separate it from the reference",
    "worse": "separated from the reference by the paired test, in the worse direction",
    "better": "separated from the reference in the better direction (only a chance baseline or "
    "control can be better than the best method)",
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
        "run_id TEXT,preset TEXT,dataset TEXT,model TEXT,protocol TEXT,config_toml TEXT,"
        "env_json TEXT,model_accuracy REAL,started REAL,finished REAL,peak_rss_mb REAL",
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
        "image_set TEXT,scale_dependent INTEGER,concept TEXT,headline INTEGER,description TEXT",
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
        "roar_correct",
        "run_id TEXT,method TEXT,mode TEXT,fraction REAL,seed INTEGER,n INTEGER,bits BLOB",
        "run_id,method,mode,fraction,seed",
    ),
    _table(
        "scores",
        "run_id TEXT,method TEXT,metric TEXT,higher_is_better INTEGER,statistic TEXT,value REAL,"
        "low REAL,high REAL,interval TEXT,n INTEGER",
        "run_id,method,metric,statistic",
    ),
    _table(
        "comparisons",
        "run_id TEXT,metric TEXT,method TEXT,reference TEXT,statistic TEXT,value REAL,low REAL,"
        "high REAL,interval TEXT,p_value REAL,test TEXT,n INTEGER,verdict TEXT",
        "run_id,metric,method,reference",
    ),
    _table(
        "differences",
        "run_id TEXT,metric TEXT,method TEXT,reference TEXT,interval TEXT,value REAL,low REAL,"
        "high REAL,se REAL,p_value REAL,n_seeds INTEGER,n_images INTEGER",
        "run_id,metric,method,reference,interval",
    ),
    _table("resolution", "run_id TEXT,metric TEXT,resolved INTEGER,reason TEXT", "run_id,metric"),
    _table(
        "image_sets",
        "run_id TEXT,image_set TEXT,position INTEGER,source_index INTEGER,label INTEGER",
        "run_id,image_set,position",
    ),
    _table(
        "map_checks",
        "run_id TEXT,method TEXT,image_set TEXT,n_images INTEGER,n_zero INTEGER",
        "run_id,method,image_set",
    ),
    _table(
        "leakage",
        "run_id TEXT,method TEXT,mode TEXT,fraction REAL,seed INTEGER,accuracy REAL",
        "run_id,method,mode,fraction,seed",
    ),
    _table(
        "curves",
        "run_id TEXT,experiment TEXT,method TEXT,series TEXT,x REAL,value REAL,low REAL,high REAL,"
        "n INTEGER,x_label TEXT",
        "run_id,experiment,method,series,x",
    ),
    _table(
        "rule_agreement",
        "run_id TEXT,metric TEXT,kendall_tau REAL,p_value REAL,n INTEGER",
        "run_id,metric",
    ),
    _table(
        "control_pairs",
        "run_id TEXT,metric TEXT,control TEXT,method TEXT,statistic TEXT,value REAL,low REAL,"
        "high REAL,interval TEXT,p_value REAL,test TEXT,n INTEGER,verdict TEXT",
        "run_id,metric,control",
    ),
    _table("estimates", "run_id TEXT,stage TEXT,seconds REAL", "run_id,stage"),
    _table("notes", "run_id TEXT,kind TEXT,position INTEGER,text TEXT", "run_id,kind,position"),
    _table("artifacts", "run_id TEXT,kind TEXT,name TEXT,key TEXT", "run_id,kind,name"),
    _table("stages", "run_id TEXT,stage TEXT,position INTEGER,seconds REAL", "run_id,stage"),
    _table(
        "gallery",
        "run_id TEXT,method TEXT,image_index INTEGER,label INTEGER,class_name TEXT,map BLOB,"
        "image BLOB,mask BLOB,height INTEGER,width INTEGER",
        "run_id,method,image_index",
    ),
)

#: Every table by name, in creation order.
TABLES: dict[str, Table] = {table.name: table for table in _TABLES}


def create_sql() -> list[str]:
    """The ``CREATE TABLE IF NOT EXISTS`` statements of every table, in order."""
    return [table.create_sql() for table in _TABLES]
