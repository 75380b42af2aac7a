"""Which methods a run may mark best on each metric, and the overall rank, from the stored tests.

The rule (issue 16): a star means a paired test could not separate the method from the metric's
best real method (the stored ``comparisons`` reference) while it separated others, so ties share
the star. Chance baselines and controls never get one. Nothing is marked on a metric the run
could not resolve (``resolution.resolved = 0``), on a metric that does not separate the methods
(all real methods score the same, or none is separated from the reference), or on a metric
without stored comparisons. Nothing here computes a statistic: it reads verdicts and values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .names import Catalog

__all__ = ["MetricVerdict", "Rank", "against_the_best", "metric_verdicts", "overall_rank"]


@dataclass(frozen=True)
class MetricVerdict:
    """What the report may say about one metric.

    Attributes:
        metric: Its id.
        resolved: False when the store says the run cannot rank methods on it.
        separates: False when the real methods cannot be told apart on it in this run.
        reason: Why it is not resolved, or why it does not separate ("" when it does both).
        tested: Whether paired comparisons are stored for it.
        best: The methods marked best (empty unless resolved, separating and tested).
        test: The stored test's name ("" without comparisons).
    """

    metric: str
    resolved: bool
    separates: bool
    reason: str
    tested: bool
    best: tuple[str, ...]
    test: str = ""

    @property
    def usable(self) -> bool:
        """Whether the metric may rank methods."""
        return self.resolved and self.separates and self.tested


def against_the_best(comparisons: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """The comparisons whose reference is a real method (the metric's best). ROAR/KAR also store
    every method against the chance baseline; mixed in, whichever row came last would decide a
    method's verdict (those rows are the report's ROAR/KAR differences table)."""
    if comparisons.empty or "reference" not in comparisons.columns:
        return comparisons
    keep = [catalog.can_be_best(str(reference)) for reference in comparisons["reference"]]
    return comparisons.loc[keep]


def _resolution(resolution: pd.DataFrame, metric: str) -> tuple[bool, str]:
    rows = resolution[resolution["metric"] == metric]
    if rows.empty or pd.isna(rows["resolved"].iloc[0]) or bool(rows["resolved"].iloc[0]):
        return True, ""
    reason = rows["reason"].iloc[0]
    return False, str(reason) if reason and not pd.isna(reason) else "not resolved in this run"


def _one_verdict(
    metric: str, values: pd.Series, tests: pd.DataFrame, resolution: pd.DataFrame,
    catalog: Catalog,
) -> MetricVerdict:
    resolved, reason = _resolution(resolution, metric)
    real = [m for m in values.index if catalog.can_be_best(m) and not pd.isna(values[m])]
    test = str(tests["test"].dropna().iloc[0]) if tests["test"].notna().any() else ""
    separates = len(real) > 1 and values[real].nunique() > 1
    if not separates and not reason:
        reason = "does not separate the methods: every real method scores the same"
    tested = not tests.empty
    best: tuple[str, ...] = ()
    if tested:
        verdict = dict(zip(tests["method"], tests["verdict"], strict=True))
        others = [m for m in real if verdict.get(m) != "reference"]
        if separates and others and all(verdict.get(m) == "not_separable" for m in others):
            separates = False
            reason = reason or (
                "does not separate the methods: the paired test separates no real method from "
                "the best"
            )
        best = tuple(m for m in real if verdict.get(m) in ("reference", "not_separable"))
    if not (resolved and separates):
        best = ()
    return MetricVerdict(metric, resolved, separates, reason, tested, best, test)


def metric_verdicts(
    values: pd.DataFrame, comparisons: pd.DataFrame, resolution: pd.DataFrame, catalog: Catalog
) -> dict[str, MetricVerdict]:
    """One :class:`MetricVerdict` per column of ``values``.

    Args:
        values: Headline values, one row per method (index) and one column per metric.
        comparisons: The run's stored ``comparisons`` rows.
        resolution: The run's stored ``resolution`` rows.
        catalog: Roles of the methods.
    """
    return {
        metric: _one_verdict(
            metric, values[metric], comparisons[comparisons["metric"] == metric], resolution,
            catalog,
        )
        for metric in values.columns
    }


@dataclass(frozen=True)
class Rank:
    """The overall rank of one run.

    Attributes:
        ranks: Mean rank per ranked method (1 = best), in rank order.
        metrics: The metrics it averages (the usable headline metric of each concept).
        unranked: ``{method: why it is not ranked}`` for every other method.
    """

    ranks: pd.Series
    metrics: tuple[str, ...]
    unranked: Mapping[str, str]


def _metric_ranks(values: pd.Series, verdict: MetricVerdict, higher_is_better: bool) -> pd.Series:
    # Ties with the best share rank 1, as they share the star; the rest are ranked by value.
    oriented = -values if higher_is_better else values.copy()
    oriented[oriented.index.isin(verdict.best)] = -np.inf
    return oriented.rank(method="min")


def overall_rank(
    values: pd.DataFrame, verdicts: Mapping[str, MetricVerdict], catalog: Catalog
) -> Rank:
    """Mean rank over the usable headline metric of each concept, of the real methods having a
    value on every one of them; chance baselines and controls are never ranked."""
    headline = catalog.headline_metrics().values()
    metrics = tuple(
        m for m in headline if m in values.columns and m in verdicts and verdicts[m].usable
    )
    unranked: dict[str, str] = {}
    ranked: list[str] = []
    for method in values.index:
        if not catalog.can_be_best(method):
            unranked[method] = f"a {catalog.role(method)} baseline, never ranked"
            continue
        missing = [m for m in metrics if pd.isna(values.loc[method, m])]
        if missing:
            labels = ", ".join(catalog.metric_label(m) for m in missing)
            unranked[method] = f"no value of {labels}"
        else:
            ranked.append(method)
    if not metrics or not ranked:
        return Rank(pd.Series(dtype=float), metrics, unranked)
    table = pd.DataFrame(
        {
            m: _metric_ranks(values.loc[ranked, m].astype(float), verdicts[m],
                             catalog.higher_is_better(m))
            for m in metrics
        }
    )
    mean = table.mean(axis=1)
    order = {m: i for i, m in enumerate(values.index)}
    keys = pd.DataFrame({"rank": mean, "order": [order[m] for m in mean.index]})
    return Rank(mean.loc[keys.sort_values(["rank", "order"]).index], metrics, unranked)
