"""Views of the stored tidy ``scores`` table: the CSVs' and the HTML tables' contents.

Nothing here computes a statistic: every number is a stored one, picked, reshaped or ranked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .names import Catalog, direction_word
from .paper import PAPER_LABELS, PUBLISHED_TABLE1
from .store import TABLE_COLUMNS

__all__ = [
    "HEADLINE_STATISTICS",
    "headline_scores",
    "metric_directions",
    "single_run",
    "table1",
    "tidy_scores",
]

#: Which stored statistic a table shows, in order of preference: the median for per-image metrics
#: (the paper's box plots are medians), the single value for ROAR AUC / KAR AOC.
HEADLINE_STATISTICS: tuple[str, ...] = ("median", "value", "mean")

_TIDY_COLUMNS = (
    "run_id",
    "method",
    "metric",
    "direction",
    "higher_is_better",
    "statistic",
    "value",
    "low",
    "high",
    "interval",
    "n",
)


def _check_scores(scores: pd.DataFrame) -> None:
    missing = [c for c in TABLE_COLUMNS["scores"] if c not in scores.columns]
    if missing:
        raise ValueError(f"scores: missing column(s) {', '.join(missing)}")


def _sort_tidy(frame: pd.DataFrame, catalog: Catalog | None = None) -> pd.DataFrame:
    catalog = catalog or Catalog.empty()
    method_rank = {m: i for i, m in enumerate(catalog.order_methods(frame["method"]))}
    metric_rank = {m: i for i, m in enumerate(catalog.order_metrics(frame["metric"]))}
    keys = pd.DataFrame(
        {
            "run": frame["run_id"].astype(str),
            "metric": frame["metric"].map(metric_rank),
            "method": frame["method"].map(method_rank),
            "statistic": frame["statistic"].astype(str),
        }
    )
    order = keys.sort_values(["run", "metric", "method", "statistic"], kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def tidy_scores(scores: pd.DataFrame, catalog: Catalog | None = None) -> pd.DataFrame:
    """The stored ``scores`` table as ``scores.csv`` holds it.

    One row per run x method x metric x statistic, columns ``run_id, method, metric, direction
    ("lower"/"higher": which is better), higher_is_better (0/1), statistic, value, low, high,
    interval (what ``low``-``high`` is over: ``common.schema.INTERVAL_KINDS``), n``; rows in a
    fixed order (metric, then method in display order, then statistic).
    """
    catalog = catalog or Catalog.empty()
    _check_scores(scores)
    frame = scores.loc[:, list(TABLE_COLUMNS["scores"])].copy()
    frame["higher_is_better"] = frame["higher_is_better"].astype(int)
    frame["direction"] = [direction_word(bool(h)) for h in frame["higher_is_better"]]
    return _sort_tidy(frame.loc[:, list(_TIDY_COLUMNS)], catalog)


def headline_scores(scores: pd.DataFrame, catalog: Catalog | None = None) -> pd.DataFrame:
    """One row per run x method x metric: the statistic a leaderboard shows, with its interval.

    The headline statistic is ``value`` for ROAR AUC / KAR AOC and ``median`` otherwise; where
    that one is not stored, the first stored of :data:`HEADLINE_STATISTICS` is used.
    Columns as :func:`tidy_scores`.
    """
    catalog = catalog or Catalog.empty()
    tidy = tidy_scores(scores, catalog)
    if tidy.empty:
        return tidy
    tidy = tidy[tidy["statistic"].isin(HEADLINE_STATISTICS)]

    if tidy.empty:
        return tidy
    # Position in HEADLINE_STATISTICS, with "value" first for retraining metrics.
    position = tidy["statistic"].map({s: i for i, s in enumerate(HEADLINE_STATISTICS)})
    retraining = tidy["metric"].map(lambda m: catalog.is_retraining(str(m)))
    ranked = tidy.assign(_pref=position.where(~(retraining & (tidy["statistic"] == "value")), -1))
    picked = ranked.sort_values("_pref", kind="stable").drop_duplicates(
        ["run_id", "method", "metric"], keep="first"
    )
    return _sort_tidy(picked.drop(columns="_pref"), catalog)


def metric_directions(scores: pd.DataFrame, catalog: Catalog | None = None) -> dict[str, bool]:
    """``{metric: higher_is_better}`` for every metric in ``scores``, in display order."""
    catalog = catalog or Catalog.empty()
    _check_scores(scores)
    first = scores.drop_duplicates("metric").set_index("metric")["higher_is_better"]
    return {m: bool(first[m]) for m in catalog.order_metrics(scores["metric"])}


def single_run(scores: pd.DataFrame) -> None:
    """Raise ValueError when ``scores`` holds rows of several runs."""
    runs = scores["run_id"].unique()
    if len(runs) > 1:
        raise ValueError(
            f"scores: holds {len(runs)} runs ({', '.join(map(str, runs))}); pass one run's rows"
        )


def table1(scores: pd.DataFrame, catalog: Catalog | None = None) -> pd.DataFrame:
    """The paper's Table 1 layout: ROAR AUC and KAR AOC of this run beside the published ones.

    Columns: ``method`` (registry name), ``label`` (the paper's name), ``roar_auc``,
    ``roar_auc_paper``, ``kar_aoc``, ``kar_aoc_paper``. Rows: the paper's methods in its order,
    then this run's other methods with a ROAR or KAR score; missing numbers are NaN. One run.
    """
    catalog = catalog or Catalog.empty()
    _check_scores(scores)
    single_run(scores)
    head = headline_scores(scores, catalog)
    head = head[head["metric"].isin(["roar_auc", "kar_aoc"])]
    run_values = (
        head.pivot(index="method", columns="metric", values="value") if not head.empty else None
    )
    extra = [m for m in catalog.order_methods(head["method"]) if m not in PUBLISHED_TABLE1]
    rows = []
    for method in [*PUBLISHED_TABLE1, *extra]:
        paper = PUBLISHED_TABLE1.get(method, (np.nan, np.nan))

        def ours(metric: str, method: str = method) -> float:
            if run_values is None or metric not in run_values or method not in run_values.index:
                return np.nan
            return float(run_values.loc[method, metric])

        rows.append(
            {
                "method": method,
                "label": catalog.method_label(method)
                if method in set(catalog.methods["method"])
                else PAPER_LABELS.get(method, method),
                "roar_auc": ours("roar_auc"),
                "roar_auc_paper": paper[0],
                "kar_aoc": ours("kar_aoc"),
                "kar_aoc_paper": paper[1],
            }
        )
    return pd.DataFrame(rows)
