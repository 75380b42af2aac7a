"""The paper's figures, redrawn from the stored tables: what each one draws."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from reports import (
    Catalog,
    RunTables,
    background_mass_figure,
    confidence_figure,
    decode_gallery,
    display_limits,
    figure_png,
    gallery_figure,
    image_score_boxplot,
    load_run,
    patch_attribution_figure,
    roar_kar_figure,
    total_variation_figure,
)

LABELS = ["Saliency Map", "Gradient * Input", "RectGrad", "Random"]


@pytest.fixture
def tables(run_dir: Path) -> RunTables:
    return load_run(run_dir)


@pytest.fixture
def catalog(tables: RunTables) -> Catalog:
    return Catalog.of(tables)


def _xlabels(fig: Figure) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def test_patch_attribution_boxplot(tables: RunTables, facts: SimpleNamespace, catalog: Catalog) -> None:
    fig = patch_attribution_figure(tables.image_scores, catalog)
    assert _xlabels(fig) == LABELS
    assert "Figure 7" in fig.axes[0].get_title()
    # the plotted range covers the largest stored value (random's largest image, 8 * e^1.5)
    assert fig.axes[0].get_ylim()[1] >= facts.per_image_values(8.0).max()


def test_total_variation_boxplot_medians(tables: RunTables, facts: SimpleNamespace, catalog: Catalog) -> None:
    fig = total_variation_figure(tables.image_scores, catalog)
    assert _xlabels(fig) == LABELS
    # each box's median line sits at the stored median (12, 15, 3, 50)
    medians = facts.MEDIANS["total_variation"]
    flat = {
        round(float(line.get_ydata()[0]), 6)
        for line in fig.axes[0].lines
        if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]
    }
    assert {medians[m] for m in facts.METHODS} <= flat


def test_boxplot_without_values_raises(tables: RunTables, catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="no per-image values of metric 'background_mass'"):
        image_score_boxplot(tables.image_scores.iloc[0:0], "background_mass", title="x")


def test_background_mass_bars_are_stored_medians_with_intervals(tables: RunTables, catalog: Catalog) -> None:
    fig = background_mass_figure(tables.scores, catalog)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([30.0, 20.0, 10.0, 40.0])
    assert _xlabels(fig) == LABELS
    # error bar extents: the stored [0.9 m, 1.1 m]
    segments = ax.collections[-1].get_segments()
    extents = np.array([(s[0][1], s[1][1]) for s in segments])
    assert extents == pytest.approx(
        np.array([(27.0, 33.0), (18.0, 22.0), (9.0, 11.0), (36.0, 44.0)])
    )
    with pytest.raises(ValueError, match="no value of metric 'background_mass'"):
        background_mass_figure(tables.scores[tables.scores["metric"] != "background_mass"])


def test_roar_kar_curves_are_seed_means(tables: RunTables, facts: SimpleNamespace, catalog: Catalog) -> None:
    fig = roar_kar_figure(tables.roar_cells, catalog)
    roar, kar = fig.axes[:2]
    assert roar.get_title().startswith("ROAR") and kar.get_title().startswith("KAR")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == LABELS

    def curves(ax: object) -> list[np.ndarray]:
        return [np.asarray(line.get_ydata()) for line in ax.lines if len(line.get_xdata()) == 3]

    # rectgrad's ROAR curve: 0.75 - 0.44 f (seed offsets -0.01/+0.01 average out)
    expected_roar = 0.75 - (0.75 - 0.53) / 0.5 * np.array(facts.FRACTIONS)
    assert any(np.allclose(y, expected_roar) for y in curves(roar))
    expected_kar = 0.3 + (1 - 0.34 - 0.3) / 0.5 * np.array(facts.FRACTIONS)
    assert any(np.allclose(y, expected_kar) for y in curves(kar))
    # Random dashed, the others solid
    styles = {line.get_label(): line.get_linestyle() for line in fig.legends[0].get_lines()}
    assert styles["Random"] != "-" and styles["RectGrad"] == "-"


def test_roar_kar_with_one_mode_and_without_cells(tables: RunTables, catalog: Catalog) -> None:
    only_roar = tables.roar_cells[tables.roar_cells["mode"] == "roar"]
    fig = roar_kar_figure(only_roar)
    assert [ax.get_title() for ax in fig.axes] == ["ROAR: top fraction removed"]
    with pytest.raises(ValueError, match="roar_cells: no cell stored"):
        roar_kar_figure(tables.roar_cells.iloc[0:0])


def test_decode_gallery_round_trips_the_blobs(tables: RunTables, facts: SimpleNamespace, catalog: Catalog) -> None:
    items = decode_gallery(tables.gallery, catalog)
    written = facts.gallery_arrays(facts.METHODS)  # (index, label, image, mask, maps)
    size = facts.GALLERY_SIZE
    assert [i.image_index for i in items] == [0, 10]
    assert [i.label for i in items] == [3, 7]
    first = items[0]
    assert first.image.shape == (size, size, 3)
    assert np.array_equal(first.image, written[0][2].transpose(1, 2, 0))
    assert (
        first.mask is not None
        and first.mask.sum() == 64
        and first.mask[4, 4]
        and not first.mask[3, 4]
    )
    assert items[1].mask is None
    assert list(first.maps) == list(facts.METHODS)
    assert np.array_equal(first.maps["saliency"], written[0][4]["saliency"])


def test_decode_gallery_rejects_a_short_blob(tables: RunTables, catalog: Catalog) -> None:
    broken = tables.gallery.copy()
    broken.loc[0, "map"] = np.zeros(10, np.float32).tobytes()
    with pytest.raises(ValueError, match="gallery.map of image 0"):
        decode_gallery(broken)


def test_display_limits_clip_at_percentiles() -> None:
    values = np.concatenate([np.linspace(-1, 1, 1000), [1000.0]]).astype(np.float32)
    low, high = display_limits(values)
    assert high == pytest.approx(np.percentile(values, 99.5))
    assert high < 2 and low == -high
    assert display_limits(np.zeros((4, 4), np.float32)) == (-1.0, 1.0)


def test_gallery_figure_shows_images_maps_and_mask_outlines(tables: RunTables, catalog: Catalog) -> None:
    fig = gallery_figure(tables.gallery, catalog)
    assert len(fig.axes) == 2 * 5
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ["image", *LABELS]
    items = decode_gallery(tables.gallery, catalog)
    shown = fig.axes[3].images[0]  # row 0, RectGrad
    assert np.array_equal(np.asarray(shown.get_array()), items[0].maps["rectgrad"])
    assert shown.get_clim() == pytest.approx(display_limits(items[0].maps["rectgrad"]))
    assert np.array_equal(np.asarray(fig.axes[0].images[0].get_array()), items[0].image)
    assert len(fig.axes[0].collections) == 1  # masked image: outline drawn
    assert len(fig.axes[5].collections) == 0  # unmasked image: none
    with pytest.raises(ValueError, match="gallery: no image stored"):
        gallery_figure(tables.gallery.iloc[0:0])


def test_confidence_figure_one_panel_per_metric(tables: RunTables, catalog: Catalog) -> None:
    fig = confidence_figure(tables.scores, catalog)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        "patch attribution ↓", "background mass ↓", "total variation ↓",
        "roar auc ↓", "kar aoc ↓", "quantus.Sparseness ↑",
    ]  # fmt: skip
    from matplotlib.collections import PathCollection

    (scatter,) = [c for c in visible[0].collections if isinstance(c, PathCollection)]
    assert scatter.get_offsets()[:, 0].tolist() == pytest.approx([5.0, 4.0, 1.0, 8.0])
    with pytest.raises(ValueError, match="scores: no value stored"):
        confidence_figure(tables.scores.iloc[0:0])


def test_figure_png_is_a_png(tables: RunTables, catalog: Catalog) -> None:
    png = figure_png(background_mass_figure(tables.scores, catalog))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000


def test_figures_accept_unknown_methods(tables: RunTables, catalog: Catalog) -> None:
    renamed = tables.image_scores.replace({"method": {"saliency": "my_method"}})
    fig = patch_attribution_figure(pd.DataFrame(renamed), catalog)
    # stored methods first with their stored labels, then an unknown one under its name
    assert _xlabels(fig) == ["Gradient * Input", "RectGrad", "Random", "my_method"]
