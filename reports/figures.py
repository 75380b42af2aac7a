"""The paper's figures redrawn from the stored tables with seaborn; each function returns a Figure.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot), so building a report leaves
no global figure state behind and needs no display.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .gallery import decode_gallery, display_limits
from .names import Catalog, direction_arrow
from .tables import headline_scores

__all__ = [
    "background_mass_figure",
    "confidence_figure",
    "figure_png",
    "gallery_figure",
    "image_score_boxplot",
    "patch_attribution_figure",
    "roar_kar_figure",
    "total_variation_figure",
]

_DPI = 90
def figure_png(fig: Figure, dpi: int = _DPI) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    # No bbox_inches="tight": every figure is already laid out, and "tight" costs an extra draw.
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _metric_rows(image_scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    rows = image_scores[image_scores["metric"] == metric].dropna(subset=["value"])
    if rows.empty:
        raise ValueError(f"image_scores: no per-image values of metric {metric!r}")
    return rows


def image_score_boxplot(
    image_scores: pd.DataFrame, metric: str, catalog: Catalog | None = None, *, title: str,
    higher_is_better: bool = False,
) -> Figure:
    """Box plot of a per-image metric, one box per method (display order, stored labels and
    colours).

    Raises:
        ValueError: ``image_scores`` holds no value of ``metric``.
    """
    catalog = catalog or Catalog.empty()
    rows = _metric_rows(image_scores, metric)
    methods = catalog.order_methods(rows["method"])
    labels = {m: catalog.method_label(m) for m in methods}
    data = rows.assign(label=rows["method"].map(labels))
    fig = Figure(figsize=(1.0 + 0.9 * len(methods), 4.0))
    ax = fig.subplots()
    with warnings.catch_warnings():
        # seaborn 0.13.2 passes `vert` to Axes.bxp, deprecated since Matplotlib 3.11; not ours.
        warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
        _boxplot(data, [labels[m] for m in methods], catalog.palette(methods), labels, ax)
    ax.set_xlabel("")
    ax.set_ylabel(catalog.axis_label(metric, higher_is_better))
    ax.set_title(title)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


def _boxplot(
    data: pd.DataFrame,
    order: list[str],
    palette: dict[str, str],
    labels: dict[str, str],
    ax: Axes,
) -> None:
    sns.boxplot(
        data=data,
        x="label",
        y="value",
        hue="label",
        order=order,
        hue_order=order,
        palette={labels[m]: c for m, c in palette.items()},
        legend=False,
        fliersize=2,
        ax=ax,
    )


def patch_attribution_figure(image_scores: pd.DataFrame, catalog: Catalog | None = None) -> Figure:
    """Figure 7: per-image attribution inside the patch (top-left 8x8), lower is better."""
    catalog = catalog or Catalog.empty()
    return image_score_boxplot(
        image_scores, "patch_attribution", catalog,
        title="Attribution in the patch (Figure 7) ↓ lower is better",
    )


def total_variation_figure(image_scores: pd.DataFrame, catalog: Catalog | None = None) -> Figure:
    """Figure 8 bottom: per-map total variation, lower is better."""
    catalog = catalog or Catalog.empty()
    return image_score_boxplot(
        image_scores, "total_variation", catalog,
        title="Total variation (Figure 8 bottom) ↓ lower is better",
    )


def background_mass_figure(
    scores: pd.DataFrame, catalog: Catalog | None = None, metric: str = "background_mass"
) -> Figure:
    """Figure 8 top: bars of the stored headline value (median) of background mass per method.

    Error bars are the stored interval (``low``-``high``) where there is one.

    Raises:
        ValueError: ``scores`` holds no value of ``metric``.
    """
    catalog = catalog or Catalog.empty()
    head = headline_scores(scores, catalog)
    rows = head[head["metric"] == metric].dropna(subset=["value"])
    if rows.empty:
        raise ValueError(f"scores: no value of metric {metric!r}")
    methods = catalog.order_methods(rows["method"])
    rows = rows.set_index("method").loc[methods]
    labels = [catalog.method_label(m) for m in methods]
    fig = Figure(figsize=(1.0 + 0.9 * len(methods), 4.0))
    ax = fig.subplots()
    palette = catalog.palette(methods)
    sns.barplot(
        x=labels,
        y=rows["value"].to_numpy(),
        hue=labels,
        palette={catalog.method_label(m): palette[m] for m in methods},
        legend=False,
        errorbar=None,
        ax=ax,
    )
    has_ci = rows["low"].notna() & rows["high"].notna()
    if has_ci.any():
        positions = np.flatnonzero(has_ci.to_numpy())
        values = rows["value"].to_numpy()[positions]
        lower = values - rows["low"].to_numpy()[positions]
        upper = rows["high"].to_numpy()[positions] - values
        ax.errorbar(positions, values, yerr=[lower, upper], fmt="none", ecolor="black", capsize=3)
    statistic = rows["statistic"].iloc[0]
    hib = bool(rows["higher_is_better"].iloc[0])
    direction = direction_arrow(hib)
    ax.set_ylabel(f"{statistic} of {catalog.axis_label(metric, hib)}")
    ax.set_title(f"Attribution outside the object (Figure 8 top) {direction}")
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    return fig


def roar_kar_figure(roar_cells: pd.DataFrame, catalog: Catalog | None = None) -> Figure:
    """ROAR and KAR accuracy vs fraction (the paper's Figure 18), one line per method.

    Points are the mean over the stored seeds, error bars one standard deviation over seeds (none
    with a single seed). Random is drawn dashed, as the baseline every method should beat.

    Raises:
        ValueError: ``roar_cells`` is empty.
    """
    catalog = catalog or Catalog.empty()
    cells = roar_cells.dropna(subset=["accuracy"])
    if cells.empty:
        raise ValueError("roar_cells: no cell stored")
    modes = [m for m in ("roar", "kar") if m in set(cells["mode"])]
    fig = Figure(figsize=(5.5 * len(modes) + 1.5, 4.0))
    axes = np.atleast_1d(fig.subplots(1, len(modes), sharey=True))
    methods = catalog.order_methods(cells["method"])
    palette = catalog.palette(methods)
    titles = {"roar": "ROAR: top fraction removed", "kar": "KAR: top fraction kept"}
    method_label = catalog.method_label
    chance = {m for m in methods if catalog.role(m) == "chance"}
    for ax, mode in zip(axes, modes, strict=True):
        data = cells[cells["mode"] == mode].assign(label=lambda d: d["method"].map(method_label))
        present = [m for m in methods if m in set(data["method"])]
        sns.lineplot(
            data=data,
            x="fraction",
            y="accuracy",
            hue="label",
            style="label",
            hue_order=[method_label(m) for m in present],
            palette={method_label(m): palette[m] for m in present},
            dashes={method_label(m): (4, 2) if m in chance else "" for m in present},
            markers={method_label(m): "s" if m in chance else "o" for m in present},
            errorbar="sd",
            err_style="bars",
            err_kws={"capsize": 2},
            ax=ax,
        )
        ax.set_title(titles[mode])
        ax.set_xlabel("fraction of pixels")
        ax.set_ylabel("test accuracy of the retrained model")
        ax.get_legend().remove()
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", frameon=False)
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))
    return fig


def gallery_figure(gallery: pd.DataFrame, catalog: Catalog | None = None) -> Figure:
    """The attribution gallery: one row per stored test image, its picture then every method's map.

    Maps are shown the paper's way: channel-summed (as stored), clipped at the 0.5th/99.5th
    percentiles, red positive, blue negative, zero white. Object masks are outlined in yellow on
    the picture and in black on the maps.

    Raises:
        ValueError: the gallery is empty or a blob is malformed.
    """
    catalog = catalog or Catalog.empty()
    items = decode_gallery(gallery, catalog)
    if not items:
        raise ValueError("gallery: no image stored")
    methods = catalog.order_methods(m for item in items for m in item.maps)
    ncols = 1 + len(methods)
    fig = Figure(figsize=(1.6 * ncols, 1.75 * len(items) + 0.3))
    axes = np.asarray(fig.subplots(len(items), ncols, squeeze=False))
    for row, item in enumerate(items):
        picture = item.image[..., 0] if item.image.shape[-1] == 1 else item.image
        ax = axes[row, 0]
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, interpolation="nearest")
        if item.mask is not None:
            ax.contour(item.mask.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_ylabel(f"#{item.image_index}\nclass {item.label}", fontsize=7)
        for col, method in enumerate(methods, start=1):
            ax = axes[row, col]
            if method in item.maps:
                low, high = display_limits(item.maps[method])
                ax.imshow(
                    item.maps[method], cmap="RdBu_r", vmin=low, vmax=high, interpolation="nearest"
                )
                if item.mask is not None:
                    ax.contour(
                        item.mask.astype(float), levels=[0.5], colors="black", linewidths=0.5
                    )
            if row == 0:
                ax.set_title(catalog.method_label(method), fontsize=7)
    axes[0, 0].set_title("image", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    # Fixed margins: tight_layout over (images x methods) axes costs seconds and changes nothing.
    fig.subplots_adjust(left=0.04, right=0.99, top=1 - 0.3 / fig.get_figheight(), bottom=0.01,
                        wspace=0.05, hspace=0.12)
    return fig


def confidence_figure(scores: pd.DataFrame, catalog: Catalog | None = None) -> Figure:
    """Each metric's headline values with their stored intervals, one panel per metric.

    Overlapping intervals mean the stored data cannot tell those methods apart.

    Raises:
        ValueError: ``scores`` is empty.
    """
    catalog = catalog or Catalog.empty()
    head = headline_scores(scores, catalog).dropna(subset=["value"])
    if head.empty:
        raise ValueError("scores: no value stored")
    metrics = list(dict.fromkeys(head["metric"]))
    ncols = min(4, len(metrics))
    nrows = -(-len(metrics) // ncols)
    methods = catalog.order_methods(head["method"])
    palette = catalog.palette(methods)
    fig = Figure(figsize=(3.6 * ncols, 0.35 * len(methods) * nrows + 1.0 * nrows))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False))
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        rows = head[head["metric"] == metric].set_index("method")
        present = [m for m in methods if m in rows.index]
        rows = rows.loc[present]
        ys = np.arange(len(present))
        colors = [palette[m] for m in present]
        # One vectorised call per artist kind: per-method errorbar calls dominated the build time.
        has_ci = (rows["low"].notna() & rows["high"].notna()).to_numpy()
        ax.hlines(ys[has_ci], rows["low"].to_numpy(float)[has_ci],
                  rows["high"].to_numpy(float)[has_ci],
                  colors=[c for c, keep in zip(colors, has_ci, strict=True) if keep], linewidth=1.2)
        ax.scatter(rows["value"].to_numpy(float), ys, c=colors, s=16, zorder=3)
        ax.set_yticks(range(len(present)), [catalog.method_label(m) for m in present], fontsize=7)
        ax.invert_yaxis()
        arrow = direction_arrow(bool(rows["higher_is_better"].iloc[0]))
        ax.set_title(f"{catalog.metric_label(metric)} {arrow}", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
