"""The report's figures, drawn from the stored tables with plain matplotlib (no pyplot, no
seaborn: importing seaborn alone cost ~2 s of a report's 5 s budget).

Every method appears under its stored label and colour, chance baselines dashed; every axis says
which way is better. Each function returns a ``Figure``; :func:`figure_png` renders it once.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .checks import seed_means
from .experiments import Experiment
from .names import Catalog

if TYPE_CHECKING:  # matplotlib is imported when a figure is drawn (~0.5 s), not with reports
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["box_stats", "curves_figure", "figure_png", "image_scores_figure", "roar_kar_figure"]

_DPI = 90
_SMALL = 9  # points: tick labels stay >= 9 px at the page's scale


#: Panels per row of a curves figure.
_PANELS_PER_ROW = 4

def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """The figure as PNG bytes (drawn once; no "tight" bounding box, which draws twice)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def box_stats(values: np.ndarray) -> dict[str, float | np.ndarray]:
    """Tukey box of finite ``values`` (N,): quartiles, median, whiskers (the most extreme values
    within 1.5 IQR of the box) and the fliers beyond them."""
    finite = values[np.isfinite(values)]
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    reach = 1.5 * (q3 - q1)
    inside = finite[(finite >= q1 - reach) & (finite <= q3 + reach)]
    return {"q1": q1, "median": median, "q3": q3, "low": inside.min(), "high": inside.max(),
            "fliers": finite[(finite < q1 - reach) | (finite > q3 + reach)]}


def _box_panel(ax: Axes, data: dict[str, np.ndarray], methods: list[str], colors: list[str]) -> None:
    """Horizontal boxes, one per method (row ``i`` = ``methods[i]``), in one call per artist."""
    ys, stats = [], []
    for i, method in enumerate(methods):
        if method in data and np.isfinite(data[method]).any():
            ys.append(i)
            stats.append(box_stats(data[method]))
    if not stats:
        return
    y = np.asarray(ys, dtype=float)
    q1 = np.array([s["q1"] for s in stats])
    q3 = np.array([s["q3"] for s in stats])
    shown = [colors[i] for i in ys]
    ax.barh(y, q3 - q1, left=q1, height=0.6, color=shown, alpha=0.55, edgecolor="black",
            linewidth=0.6)
    ax.vlines([s["median"] for s in stats], y - 0.3, y + 0.3, colors="black", linewidth=1.4)
    ax.hlines(y, [s["low"] for s in stats], q1, colors="black", linewidth=0.7)
    ax.hlines(y, q3, [s["high"] for s in stats], colors="black", linewidth=0.7)
    flier_x = np.concatenate([s["fliers"] for s in stats])
    flier_y = np.concatenate([np.full(len(s["fliers"]), yy) for s, yy in zip(stats, y, strict=True)])
    ax.scatter(flier_x, flier_y, s=6, c="black", alpha=0.5, linewidths=0)


def image_scores_figure(image_scores: pd.DataFrame, metrics: list[str], catalog: Catalog) -> Figure:
    """Per-image values of ``metrics`` (one panel each), one box per method, methods on the
    shared vertical axis; the x axis says which way is better.

    Raises:
        ValueError: no value of any of ``metrics`` is stored.
    """
    rows = image_scores[image_scores["metric"].isin(metrics)].dropna(subset=["value"])
    if rows.empty:
        raise ValueError(f"image_scores: no per-image value of {', '.join(metrics)}")
    metrics = [m for m in metrics if (rows["metric"] == m).any()]
    methods = catalog.order_methods(rows["method"])
    palette = catalog.palette(methods)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.9 * len(metrics) + 1.6, 0.42 * len(methods) + 1.3))
    axes = np.atleast_1d(fig.subplots(1, len(metrics), sharey=True))
    grouped = {key: g["value"].to_numpy(float) for key, g in rows.groupby(["metric", "method"])}
    for ax, metric in zip(axes, metrics, strict=True):
        data = {m: grouped[(metric, m)] for m in methods if (metric, m) in grouped}
        _box_panel(ax, data, methods, [palette[m] for m in methods])
        ax.set_xlabel(catalog.axis_label(metric), fontsize=_SMALL)
        ax.tick_params(labelsize=_SMALL)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(methods)), [catalog.method_label(m) for m in methods])
    axes[0].set_ylim(len(methods) - 0.5, -0.5)
    fig.subplots_adjust(left=1.45 / fig.get_figwidth(), right=0.98, wspace=0.12,
                        bottom=0.9 / fig.get_figheight(), top=1 - 0.2 / fig.get_figheight())
    return fig


_MODE_AXES = {
    "roar": ("fraction of pixels removed, top-ranked first (→ more removed)",
             "accuracy of the retrained model\n(↓ lower is better: removing what matters hurts)"),
    "kar": ("fraction of pixels kept, top-ranked first (→ more kept)",
            "accuracy of the retrained model\n(↑ higher is better: keeping what matters helps)"),
}


def _line(ax: Axes, x: np.ndarray, y: np.ndarray, band: tuple[np.ndarray, np.ndarray] | None,
          color: str, label: str, dashed: bool) -> None:
    ax.plot(x, y, color=color, label=label, linestyle="--" if dashed else "-",
            marker="s" if dashed else "o", markersize=3.5, linewidth=1.4)
    if band is not None:
        ax.fill_between(x, band[0], band[1], color=color, alpha=0.15, linewidth=0)


def roar_kar_figure(roar_cells: pd.DataFrame, catalog: Catalog) -> Figure:
    """Retrained accuracy against the removed (ROAR) or kept (KAR) fraction, one line per
    method: the mean over seeds, a band from the lowest to the highest seed; chance dashed.

    Raises:
        ValueError: no cell is stored.
    """
    means = seed_means(roar_cells)
    if means.empty:
        raise ValueError("roar_cells: no cell stored")
    modes = [m for m in ("roar", "kar") if (means["mode"] == m).any()]
    methods = catalog.order_methods(means["method"])
    palette = catalog.palette(methods)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.6 * len(modes) + 2.2, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(modes)))
    for ax, mode in zip(axes, modes, strict=True):
        for method in methods:
            curve = means[(means["method"] == method) & (means["mode"] == mode)]
            if curve.empty:
                continue
            band = (curve["low"].to_numpy(), curve["high"].to_numpy())
            _line(ax, curve["fraction"].to_numpy(), curve["mean"].to_numpy(),
                  band if int(curve["seeds"].max()) > 1 else None, palette[method],
                  catalog.method_label(method), catalog.role(method) == "chance")
        ax.set_title(mode.upper(), fontsize=10)
        ax.set_xlabel(_MODE_AXES[mode][0], fontsize=_SMALL)
        ax.set_ylabel(_MODE_AXES[mode][1], fontsize=_SMALL)
        ax.tick_params(labelsize=_SMALL)
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    return fig


def _legend(fig: Figure, ax: Axes) -> None:
    handles, labels = ax.get_legend_handles_labels()
    right = 1 - 2.0 / fig.get_figwidth()
    fig.subplots_adjust(left=0.9 / fig.get_figwidth(), right=right, wspace=0.35,
                        bottom=0.75 / fig.get_figheight(), top=1 - 0.35 / fig.get_figheight())
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(right + 0.01, 0.5),
               frameon=False, fontsize=_SMALL)


def curves_figure(rows: pd.DataFrame, info: Experiment, catalog: Catalog) -> Figure:
    """One experiment of the ``curves`` table: one panel per series (or one panel with a line per
    series), one line per method with its stored band.

    Points with an ``x_label`` are named on the x axis: when every point has one (layers), the
    axis is categorical and the points are joined; when only some have one (a sweep's ``tau=0``
    endpoint), those are drawn apart, as markers with their interval, not joined to the line.

    Raises:
        ValueError: ``rows`` is empty.
    """
    if rows.empty:
        raise ValueError("curves: no row stored for this experiment")
    rows = rows.sort_values("x", kind="stable")
    labels = rows["x_label"] if "x_label" in rows.columns else pd.Series(None, index=rows.index)
    labelled = labels.notna() & (labels.astype(str) != "")
    categorical = bool(labelled.all())
    series = list(dict.fromkeys(rows["series"]))
    panels = [series] if info.series_as_lines else [[s] for s in series]
    methods = catalog.order_methods(rows["method"])
    colors = catalog.palette([*methods, *series])
    from matplotlib.figure import Figure

    # At most _PANELS_PER_ROW panels side by side (a sweep scored on 20 metrics wraps into rows)
    ncols = min(len(panels), _PANELS_PER_ROW)
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.4 * ncols + 2.2, 3.4 * nrows))
    grid = np.atleast_1d(fig.subplots(nrows, ncols)).ravel()
    for spare in grid[len(panels):]:
        spare.remove()
    axes = grid[: len(panels)]
    for ax, panel in zip(axes, panels, strict=True):
        for name in panel:
            for method in methods:
                chosen = (rows["series"] == name) & (rows["method"] == method)
                part = rows[chosen & (labelled.eq(False) | categorical)]
                label = _curve_label(catalog, method, name, info, len(methods))
                color = colors[name] if info.series_as_lines else colors[method]
                if not part.empty:
                    band = (part["low"].to_numpy(float), part["high"].to_numpy(float))
                    _line(ax, part["x"].to_numpy(float), part["value"].to_numpy(float),
                          band if np.isfinite(band[0]).any() else None, color, label,
                          catalog.role(method) == "chance")
                if not categorical:
                    _endpoints(ax, rows[chosen & labelled], color)
        _x_ticks(ax, rows, labels, labelled, categorical)
        single = panel[0] if len(panel) == 1 else None
        in_catalog = single is not None and single in set(catalog.metrics["metric"])
        y_label = catalog.axis_label(single) if in_catalog else info.y_label
        ax.set_ylabel(y_label.replace(" (", "\n(", 1), fontsize=_SMALL)
        ax.set_xlabel(info.x_label, fontsize=_SMALL)
        ax.tick_params(labelsize=_SMALL)
        ax.grid(alpha=0.3)
    _legend(fig, axes[0])
    return fig


def _endpoints(ax: Axes, points: pd.DataFrame, color: str) -> None:
    """Labelled points apart from the line: a marker with its interval as an error bar."""
    if points.empty:
        return
    y = points["value"].to_numpy(float)
    low, high = points["low"].to_numpy(float), points["high"].to_numpy(float)
    error = np.vstack([y - low, high - y]) if np.isfinite(low).all() else None
    ax.errorbar(points["x"].to_numpy(float), y, yerr=error, fmt="D", color=color, markersize=4,
                capsize=3, linewidth=1.0)


def _x_ticks(ax: Axes, rows: pd.DataFrame, labels: pd.Series, labelled: pd.Series,
             categorical: bool) -> None:
    """Name the labelled x positions (with the automatic ticks of the numeric range)."""
    if not labelled.any():
        return
    named = dict(zip(rows.loc[labelled, "x"].astype(float), labels[labelled].astype(str),
                     strict=True))
    ticks: dict[float, str] = {}
    if not categorical:
        numeric = rows.loc[~labelled, "x"].astype(float)
        ticks = {float(t): f"{t:g}" for t in ax.get_xticks()
                 if numeric.min() <= t <= numeric.max()}
    ticks.update(named)
    ax.set_xticks(list(ticks), list(ticks.values()),
                  rotation=30 if categorical and len(ticks) > 3 else 0)


def _curve_label(catalog: Catalog, method: str, series: str, info: Experiment,
                 n_methods: int) -> str:
    name = catalog.method_label(method) if method else ""
    if not info.series_as_lines:
        return name or series
    return series if n_methods == 1 or not name else f"{name}: {series}"
