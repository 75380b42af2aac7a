"""The figures: what each one draws, under which names, with which directions."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from matplotlib.figure import Figure

from reports import (
    Catalog,
    RunTables,
    curves_figure,
    figure_png,
    image_scores_figure,
    load_run,
    roar_kar_figure,
)
from reports.experiments import experiment
from reports.figures import box_stats

LABELS = ["Saliency Map", "Gradient * Input", "RectGrad", "Random", "Edge (Sobel)"]


@pytest.fixture
def tables(run_dir: Path) -> RunTables:
    return load_run(run_dir)


@pytest.fixture
def catalog(tables: RunTables) -> Catalog:
    return Catalog.of(tables)


def _texts(fig: Figure) -> list[str]:
    """Every visible text of a figure: tick labels, axis labels, titles, legend entries."""
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    return [t for t in texts if t]


def test_box_stats_by_hand() -> None:
    # quartiles of 1..9 and 100: q1 3.25, median 5.5, q3 7.75; 100 lies beyond 1.5 IQR
    stats = box_stats(np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 100.0]))
    assert (stats["q1"], stats["median"], stats["q3"]) == (3.25, 5.5, 7.75)
    assert (stats["low"], stats["high"]) == (1.0, 9.0)
    assert stats["fliers"].tolist() == [100.0]


def test_per_image_boxes_use_stored_labels_and_say_the_direction(
    tables: RunTables, catalog: Catalog
) -> None:
    metrics = ["patch_attribution", "total_variation"]
    fig = image_scores_figure(tables.image_scores, metrics, catalog)
    # Random has no scale-dependent value: no empty row for it
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [
        label for label in LABELS if label != "Random"]
    assert [ax.get_xlabel() for ax in fig.axes] == [
        "Patch attribution (↓ lower is better)", "Total variation (↓ lower is better)"]
    # the median lines sit at the stored medians (total variation: 12, 15, 3, -, 1)
    medians = sorted(float(x[0]) for x in fig.axes[1].collections[0].get_segments()
                     for x in [np.asarray(x)[:, 0]])
    assert medians == pytest.approx([1.0, 3.0, 12.0, 15.0])
    with pytest.raises(ValueError, match="no per-image value"):
        image_scores_figure(tables.image_scores, ["nope"], catalog)


def test_roar_kar_lines_are_seed_means_with_a_band_and_random_dashed(
    tables: RunTables, catalog: Catalog, fx: ModuleType
) -> None:
    fig = roar_kar_figure(tables.roar_cells, catalog)
    roar, kar = fig.axes[:2]
    lines = {line.get_label(): line for line in roar.get_lines()}
    assert list(lines) == LABELS
    expected = [np.mean([fx.roar_accuracy("rectgrad", "roar", f, s) for s in (0, 1)])
                for f in fx.FRACTIONS]
    assert lines["RectGrad"].get_ydata() == pytest.approx(expected)
    assert lines["Random"].get_linestyle() == "--" and lines["RectGrad"].get_linestyle() == "-"
    assert len(roar.collections) == len(LABELS)  # one seed band per method
    assert "↓ lower is better" in roar.get_ylabel() and "↑ higher is better" in kar.get_ylabel()
    assert "removed" in roar.get_xlabel() and "kept" in kar.get_xlabel()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == LABELS


def test_roar_kar_with_one_seed_has_no_band(tables: RunTables, catalog: Catalog) -> None:
    one = tables.roar_cells[tables.roar_cells["seed"] == 0]
    assert len(roar_kar_figure(one, catalog).axes[0].collections) == 0
    with pytest.raises(ValueError, match="no cell"):
        roar_kar_figure(one.iloc[0:0], catalog)


def test_curves_use_metric_labels_or_the_experiment_axes(tables: RunTables,
                                                         catalog: Catalog) -> None:
    sweep = tables.curves[tables.curves["experiment"] == "sweep:rectgrad.percentile"]
    fig = curves_figure(sweep, experiment("sweep:rectgrad.percentile"), catalog)
    assert [ax.get_ylabel() for ax in fig.axes] == [
        "Patch attribution\n(↓ lower is better)", "Total variation\n(↓ lower is better)"]
    assert fig.axes[0].get_lines()[0].get_label() == "RectGrad"
    occlusion = tables.curves[tables.curves["experiment"] == "feature_occlusion"]
    fig = curves_figure(occlusion, experiment("feature_occlusion"), catalog)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["background", "object"]
    assert "↑" in fig.axes[0].get_ylabel()
    unknown = experiment("my_experiment")
    assert "direction not stored" in unknown.y_label


def test_figures_show_no_raw_ids(tables: RunTables, catalog: Catalog) -> None:
    figs = [image_scores_figure(tables.image_scores, ["patch_attribution"], catalog),
            roar_kar_figure(tables.roar_cells, catalog)]
    texts = " ".join(t for fig in figs for t in _texts(fig))
    for name in ("grad_x_input", "edge_sobel", "patch_attribution", "saliency"):
        assert name not in texts


def test_figure_png_is_a_png(tables: RunTables, catalog: Catalog) -> None:
    png = figure_png(roar_kar_figure(tables.roar_cells, catalog))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
