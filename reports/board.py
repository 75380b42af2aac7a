"""One run's leaderboard: stored headline values, intervals, verdicts, warnings and the rank.

Everything the report's tables show about a (method, metric) pair is looked up here, so the
headline table, the full table, the console table and the cross-run leaderboard agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from .checks import leakage_flags, leakage_table
from .names import Catalog
from .store import RunTables
from .tables import headline_scores, single_run
from .verdicts import MetricVerdict, Rank, against_the_best, metric_verdicts, overall_rank

__all__ = ["Board", "leaderboard_table", "run_leaderboard"]


def _empty(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


_NO_COMPARISONS = _empty(("metric", "method", "verdict", "test", "p_value", "value", "low",
                          "high", "reference", "interval", "n", "statistic"))
_NO_RESOLUTION = _empty(("metric", "resolved", "reason"))


@dataclass(frozen=True)
class Board:
    """One run's leaderboard.

    Attributes:
        catalog: Labels, roles and order.
        head: The headline score rows (``reports.tables.headline_scores``).
        values: Headline values, methods (display order) x metrics (display order).
        verdicts: Per metric, what may be marked (:mod:`reports.verdicts`).
        rank: The overall rank.
        means: Stored means shown beside medians that tie at 0, by (method, metric).
        flags: Warnings on single scores, by (method, metric) (e.g. leakage above accuracy).
        comparisons: The stored paired comparisons.
    """

    catalog: Catalog
    head: pd.DataFrame
    values: pd.DataFrame
    verdicts: dict[str, MetricVerdict]
    rank: Rank
    means: dict[tuple[str, str], float]
    flags: Mapping[tuple[str, str], str] = field(default_factory=dict)
    comparisons: pd.DataFrame = field(default_factory=lambda: _NO_COMPARISONS)

    def __post_init__(self) -> None:
        # Every table cell looks its row up: one dict instead of a boolean mask per cell.
        rows = self.head.dropna(subset=["value"]).to_dict("records")
        object.__setattr__(self, "_cells", {(r["method"], r["metric"]): r for r in rows})

    @classmethod
    def build(
        cls, scores: pd.DataFrame, catalog: Catalog, *, comparisons: pd.DataFrame | None = None,
        resolution: pd.DataFrame | None = None, flags: Mapping[tuple[str, str], str] | None = None,
    ) -> Board:
        """The board of one run's stored rows.

        Raises:
            ValueError: ``scores`` holds several runs or lacks a stored column.
        """
        comparisons = _NO_COMPARISONS if comparisons is None else comparisons
        comparisons = against_the_best(comparisons, catalog)
        resolution = _NO_RESOLUTION if resolution is None else resolution
        head = headline_scores(scores, catalog)
        single_run(scores)
        methods = catalog.order_methods(scores["method"])
        metrics = catalog.order_metrics(scores["metric"])
        values = (
            head.pivot(index="method", columns="metric", values="value")
            .reindex(index=methods, columns=metrics).astype(float)
            if not head.empty else pd.DataFrame(index=methods, columns=metrics, dtype=float)
        )
        values.columns.name = None
        verdicts = metric_verdicts(values, comparisons, resolution, catalog)
        rank = overall_rank(values, verdicts, catalog)
        return cls(catalog, head, values, verdicts, rank, _means_at_zero(scores, head),
                   dict(flags or {}), comparisons)

    @classmethod
    def of(cls, tables: RunTables) -> Board:
        """The board of a loaded run, with its leakage flags."""
        catalog = Catalog.of(tables)
        flags = leakage_flags(leakage_table(tables.leakage, tables.roar_cells), catalog)
        return cls.build(tables.scores, catalog, comparisons=tables.comparisons,
                         resolution=tables.resolution, flags=flags)

    @property
    def methods(self) -> list[str]:
        """Ranked methods in rank order, then the others in display order."""
        ranked = list(self.rank.ranks.index)
        return ranked + [m for m in self.values.index if m not in ranked]

    @property
    def metrics(self) -> list[str]:
        """Every metric, in display order."""
        return list(self.values.columns)

    def headline_columns(self) -> list[tuple[str, str]]:
        """``(concept, metric)`` of every headline metric with stored scores, in stored order."""
        return [(c, m) for c, m in self.catalog.headline_metrics().items() if m in self.metrics]

    def row(self, method: str, metric: str) -> Mapping[str, object] | None:
        """The stored headline row of (method, metric) (columns of ``head``), or None when no
        value is stored."""
        return self._cells.get((method, metric))  # type: ignore[attr-defined]

    def is_best(self, method: str, metric: str) -> bool:
        return method in self.verdicts[metric].best

    def rank_of(self, method: str) -> float | None:
        ranks = self.rank.ranks
        return float(ranks[method]) if method in ranks.index else None

    def frame(self) -> pd.DataFrame:
        """``leaderboard.csv``: ``method``, one column per metric (headline value), ``rank``
        (empty for unranked methods); rows as :attr:`methods`."""
        out = self.values.loc[self.methods].copy()
        out["rank"] = [self.rank_of(m) for m in out.index]
        out.index.name = "method"
        return out.reset_index()


def _means_at_zero(scores: pd.DataFrame, head: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The stored mean of every median that ties with another at exactly 0 (a median of 0 says
    nothing about how often a method puts mass there; the mean does)."""
    zero = head[(head["statistic"] == "median") & (head["value"] == 0)]
    tied = zero.groupby("metric")["method"].transform("size") > 1
    means = scores[scores["statistic"] == "mean"].set_index(["method", "metric"])["value"]
    return {
        (m, k): float(means[(m, k)])
        for m, k in zip(zero.loc[tied, "method"], zero.loc[tied, "metric"], strict=True)
        if (m, k) in means.index and not pd.isna(means[(m, k)])
    }


def run_leaderboard(tables: RunTables) -> pd.DataFrame:
    """A loaded run's leaderboard (``leaderboard.csv``): :meth:`Board.of` as a table, ranked
    with the run's stored comparisons and resolution."""
    return Board.of(tables).frame()


def leaderboard_table(
    scores: pd.DataFrame, catalog: Catalog | None = None, *,
    comparisons: pd.DataFrame | None = None, resolution: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One run's leaderboard as a table (:meth:`Board.frame`): one row per method, one column
    per metric holding the stored headline value, and the overall ``rank``.

    Raises:
        ValueError: ``scores`` lacks a stored column or holds several runs.
    """
    board = Board.build(scores, catalog or Catalog.empty(), comparisons=comparisons,
                        resolution=resolution)
    return board.frame()
