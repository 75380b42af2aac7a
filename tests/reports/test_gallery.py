"""The gallery: stored blobs decoded, grouped by class, drawn as tiles with a symmetric scale."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from types import ModuleType

import matplotlib.image
import numpy as np
import pytest

from reports import Catalog, decode_gallery, display_limits, load_run
from reports.gallery_html import RDBU_R, colorize, gallery_html, outline, png_bytes


def test_decode_groups_the_stratified_gallery_by_class(run_dir: Path, fx: ModuleType) -> None:
    tables = load_run(run_dir)
    items = decode_gallery(tables.gallery, Catalog.of(tables))
    # stored stratified (classes 0, 1, 2, 0, 1, 2 at indices 1, 8, 15, 22, 29, 36): shown by class
    assert [(i.class_name, i.image_index) for i in items] == [
        ("airplane", 1), ("airplane", 22), ("automobile", 8), ("automobile", 29),
        ("bird", 15), ("bird", 36)]
    stored = {i[0]: i for i in fx.gallery_arrays(6, 16, fx.METHODS)}
    first = items[0]
    assert list(first.maps) == list(fx.METHODS)
    np.testing.assert_array_equal(first.image, stored[1][3].transpose(1, 2, 0))
    np.testing.assert_array_equal(first.maps["rectgrad"], stored[1][5]["rectgrad"])
    np.testing.assert_array_equal(first.mask, stored[1][4])
    assert items[-1].mask is None  # the last stored image has no mask


def test_decode_rejects_a_short_blob(run_dir: Path) -> None:
    gallery = load_run(run_dir).gallery.copy()
    gallery.loc[0, "map"] = b"\x00" * 12
    with pytest.raises(ValueError, match="gallery.map of image"):
        decode_gallery(gallery, None)


def test_display_limits_are_symmetric_at_the_percentiles() -> None:
    values = np.concatenate([np.linspace(-1, 1, 998), [-50.0, 80.0]])
    low, high = display_limits(values)
    assert low == -high and 0.95 < high < 1.0  # the two outliers are clipped away


def test_colorize_is_symmetric_around_white() -> None:
    rgb = colorize(np.array([[-2.0, 0.0, 2.0]]), 2.0)
    assert rgb[0, 1].tolist() == [247, 247, 247]  # zero: the middle stop, near-white
    assert rgb[0, 0].tolist() == [5, 48, 97] and rgb[0, 2].tolist() == [103, 0, 31]
    assert RDBU_R[0] == "#053061" and RDBU_R[-1] == "#67001f"


def test_outline_is_the_mask_border() -> None:
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    expected = mask.copy()
    expected[2, 2] = False
    np.testing.assert_array_equal(outline(mask), expected)


def test_png_bytes_decode_to_the_same_pixels() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    decoded = matplotlib.image.imread(io.BytesIO(png_bytes(rgb)), format="png")
    np.testing.assert_array_equal((decoded[..., :3] * 255).round().astype(np.uint8), rgb)


def test_gallery_html_has_class_rows_labels_and_one_colour_bar_per_method(
    run_dir: Path,
) -> None:
    tables = load_run(run_dir)
    catalog = Catalog.of(tables)
    html = gallery_html(decode_gallery(tables.gallery, catalog), catalog)
    assert re.findall(r'class="class-row"><th[^>]*>([^<]+)<', html) == [
        "airplane", "automobile", "bird"]
    assert html.count('class="cbar"') == 5
    # each colour bar is symmetric: -v 0 +v
    ticks = re.findall(r"<span>−([\d.e-]+)</span><span>0</span><span>\+([\d.e-]+)</span>", html)
    assert len(ticks) == 5 and all(a == b for a, b in ticks)
    assert '<th title="edge_sobel"><span class="label">Edge (Sobel)</span>' in html
    tiles = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(tiles) == 6 * 6  # the picture and five maps per image
    first = matplotlib.image.imread(io.BytesIO(base64.b64decode(tiles[1])), format="png")
    assert first.shape[:2] == (96, 96)  # 16 px maps upscaled 6x
    # the object's outline is drawn in black on the map tiles
    assert (first[..., :3].sum(axis=2) == 0).sum() > 50


def test_colour_bar_labels_stay_short() -> None:
    from reports.gallery_html import _tick

    assert [_tick(b) for b in (0.5312, 2.7, 0.00741, 12345.0)] == ["0.53", "2.7", "7.4e-3",
                                                                   "1.2e4"]
