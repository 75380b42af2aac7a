"""Warnings read off the stored tables: suspicious ROAR/KAR curves, leakage, all-zero maps.

Each check states what it compares; none computes a new statistic beyond seed means of stored
cells (the same means the ROAR/KAR figure draws).
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from .names import Catalog

__all__ = [
    "CURVE_TOLERANCE",
    "curve_warnings",
    "leakage_flags",
    "leakage_table",
    "seed_means",
    "zero_map_warnings",
]

#: A change of retrained accuracy below this (or below the seeds' own spread) is not called a
#: wrong-direction trend.
CURVE_TOLERANCE = 0.01

_WRONG_WAY = {"roar": "rises as more is removed", "kar": "falls as more is kept"}


def seed_means(cells: pd.DataFrame) -> pd.DataFrame:
    """Per (method, mode, fraction): ``mean``, ``low``, ``high`` (min, max over seeds), ``seeds``."""
    cells = cells.dropna(subset=["accuracy"])
    grouped = cells.groupby(["method", "mode", "fraction"])["accuracy"]
    out = grouped.agg(mean="mean", low="min", high="max", seeds="size").reset_index()
    return out.sort_values(["method", "mode", "fraction"], kind="stable").reset_index(drop=True)


def _wrong_way_step(curve: pd.DataFrame, mode: str) -> tuple[float, pd.Series, pd.Series] | None:
    """The largest change against the expected direction between two fractions, or None."""
    worst: tuple[float, pd.Series, pd.Series] | None = None
    for (_, a), (_, b) in combinations(curve.iterrows(), 2):  # a at the smaller fraction
        change = b["mean"] - a["mean"] if mode == "roar" else a["mean"] - b["mean"]
        spread = max(a["high"] - a["low"], b["high"] - b["low"])
        if change > max(CURVE_TOLERANCE, spread) and (worst is None or change > worst[0]):
            worst = (float(change), a, b)
    return worst


def curve_warnings(roar_cells: pd.DataFrame, catalog: Catalog) -> dict[str, str]:
    """``{mode: warning}`` naming every method whose seed-mean ROAR accuracy rises as more
    pixels are removed, or whose KAR accuracy falls as more are kept, by more than
    :data:`CURVE_TOLERANCE` and more than the seeds' spread at the two fractions (the largest
    such change per method)."""
    means = seed_means(roar_cells)
    found: dict[str, list[str]] = {}
    for mode in _WRONG_WAY:
        for method in catalog.order_methods(means["method"]):
            curve = means[(means["method"] == method) & (means["mode"] == mode)]
            step = _wrong_way_step(curve, mode)
            if step is not None:
                _, a, b = step
                found.setdefault(mode, []).append(
                    f"{catalog.method_label(method)} ({a['mean']:.3f} at {a['fraction']:.0%} → "
                    f"{b['mean']:.3f} at {b['fraction']:.0%})")
    return {
        mode: f"{mode.upper()} accuracy {_WRONG_WAY[mode]} for {', '.join(names)}: the removal "
        "order may not follow the map, or retraining is too noisy at this scale"
        for mode, names in found.items()
    }


def leakage_table(leakage: pd.DataFrame, roar_cells: pd.DataFrame) -> pd.DataFrame:
    """Per (method, mode, fraction): the mask-only classifier's accuracy and the retrained
    model's (seed means), and whether the first exceeds the second.

    Columns: ``method, mode, fraction, leakage, retrained, exceeds``.
    """
    columns = ["method", "mode", "fraction", "leakage", "retrained", "exceeds"]
    rows = leakage.dropna(subset=["accuracy"])
    if rows.empty:
        return pd.DataFrame(columns=columns)
    leak = rows.groupby(["method", "mode", "fraction"])["accuracy"].mean().rename("leakage")
    retrained = seed_means(roar_cells).set_index(["method", "mode", "fraction"])["mean"]
    out = leak.to_frame().join(retrained.rename("retrained"), how="left").reset_index()
    out["exceeds"] = out["leakage"] > out["retrained"]
    return out.loc[:, columns]


def leakage_flags(table: pd.DataFrame, catalog: Catalog) -> dict[tuple[str, str], str]:
    """``{(method, metric): warning}`` for the ROAR/KAR score (the metric whose concept is the
    mode) of every method whose removal masks alone predict better than its retrained model."""
    flags: dict[tuple[str, str], str] = {}
    exceeding = table[table["exceeds"].astype(bool)]
    for (method, mode), rows in exceeding.groupby(["method", "mode"], sort=False):
        fractions = ", ".join(f"{f:.0%}" for f in rows["fraction"])
        text = (
            f"leakage: a classifier of the {mode.upper()} removal masks alone beats the retrained "
            f"model at fraction {fractions}; the score may measure the mask's shape"
        )
        for metric in catalog.metrics["metric"]:
            if catalog.concept(str(metric)) == mode and catalog.is_retraining(str(metric)):
                flags[(str(method), str(metric))] = text
    return flags


def zero_map_warnings(map_checks: pd.DataFrame, catalog: Catalog) -> list[str]:
    """One warning per method with all-zero maps, naming the image sets and counts."""
    zero = map_checks[map_checks["n_zero"].fillna(0) > 0]
    warnings = []
    for method in catalog.order_methods(zero["method"]):
        rows = zero[zero["method"] == method]
        where = "; ".join(
            f"{int(r.n_zero)} of {int(r.n_images)} on {r.image_set}" for r in rows.itertuples()
        )
        warnings.append(
            f"{catalog.method_label(method)}: all-zero maps ({where}); their scores are those of "
            "an empty map, not of the method's explanation"
        )
    return warnings
