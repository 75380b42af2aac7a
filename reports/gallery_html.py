"""The attribution gallery as an HTML table of small PNG tiles, grouped by class.

Tiles are coloured in numpy and written as PNG with zlib (no figure to lay out: a matplotlib grid
of images x methods axes cost seconds). Each method's column shares one symmetric colour scale
(-v .. +v, zero white), drawn as a colour bar under the method's name; the object mask is outlined
(yellow on the picture, black on the maps). Labels are HTML text, readable at any size.
"""

from __future__ import annotations

import base64
import struct
import zlib
from html import escape

import numpy as np

from .gallery import GalleryImage, display_limits
from .names import Catalog

__all__ = ["RDBU_R", "colorize", "gallery_html", "outline", "png_bytes"]

#: ColorBrewer RdBu (11 classes) reversed: negative blue, zero near-white, positive red.
RDBU_R: tuple[str, ...] = (
    "#053061", "#2166ac", "#4393c3", "#92c5de", "#d1e5f0", "#f7f7f7",
    "#fddbc7", "#f4a582", "#d6604d", "#b2182b", "#67001f",
)
_TILE = 96  # pixels of a tile's longer side (maps are upscaled by an integer factor)
_LEVELS = 255


def _lut() -> np.ndarray:
    stops = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in RDBU_R], dtype=float)
    # An odd number of entries: zero falls exactly on the middle (white) stop.
    grid = np.linspace(0, len(stops) - 1, _LEVELS)
    return np.stack([np.interp(grid, np.arange(len(stops)), stops[:, k]) for k in range(3)],
                    axis=1).round().astype(np.uint8)


_LUT = _lut()


def colorize(attribution_map: np.ndarray, bound: float) -> np.ndarray:
    """(H, W) map -> (H, W, 3) uint8 on the RdBu_r scale from ``-bound`` to ``+bound``."""
    scaled = (np.nan_to_num(attribution_map) / (2 * bound) + 0.5).clip(0, 1)
    return _LUT[(scaled * (_LEVELS - 1)).round().astype(np.intp)]


def _upscale(array: np.ndarray, factor: int) -> np.ndarray:
    return array.repeat(factor, axis=0).repeat(factor, axis=1)


def outline(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` (H, W) bool with a 4-neighbour outside it: a one-pixel contour."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    return mask & ~interior


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) uint8 array as an 8-bit RGB PNG file."""
    h, w, _ = rgb.shape
    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def _tile(rgb: np.ndarray, mask: np.ndarray | None, color: tuple[int, int, int], alt: str) -> str:
    factor = max(1, _TILE // max(rgb.shape[:2]))
    big = _upscale(rgb, factor)
    if mask is not None:
        big = big.copy()
        big[outline(_upscale(mask, factor))] = color
    data = base64.b64encode(png_bytes(np.ascontiguousarray(big))).decode("ascii")
    return f'<img class="tile" alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def _picture(item: GalleryImage) -> np.ndarray:
    image = item.image
    return np.repeat(image, 3, axis=2) if image.shape[-1] == 1 else image


def _tick(bound: float) -> str:
    """A colour bar's end label, at most 6 characters: ``0.53``, ``2.7``, ``7.4e-3``."""
    if 0.01 <= bound < 1000:
        return f"{bound:.2g}"
    mantissa, exponent = f"{bound:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _colour_bar(bound: float) -> str:
    gradient = ", ".join(RDBU_R)
    return (f'<div class="cbar" style="background: linear-gradient(to right, {gradient})"></div>'
            f'<div class="cbar-ticks"><span>−{_tick(bound)}</span><span>0</span>'
            f"<span>+{_tick(bound)}</span></div>")


def gallery_html(items: list[GalleryImage], catalog: Catalog) -> str:
    """The gallery table (``id="gallery"``): a header row per class, one row per image."""
    methods = catalog.order_methods(m for item in items for m in item.maps)
    bounds = {m: display_limits(np.stack([i.maps[m] for i in items if m in i.maps]))[1]
              for m in methods}
    head = '<th class="text">Image</th>' + "".join(
        f'<th title="{escape(m)}"><span class="label">{escape(catalog.method_label(m))}</span>'
        f"{_colour_bar(bounds[m])}</th>" for m in methods
    )
    body, current = "", None
    for item in items:
        if item.class_name != current:
            current = item.class_name
            body += (f'<tr class="class-row"><th class="text" colspan="{1 + len(methods)}">'
                     f"{escape(current)}</th></tr>")
        cells = (f'<td class="text">{_tile(_picture(item), item.mask, (255, 215, 0), "image")}'
                 f'<span class="caption">#{item.image_index} · {escape(item.class_name)}</span></td>')
        for method in methods:
            if method not in item.maps:
                cells += '<td class="na">–</td>'
                continue
            rgb = colorize(item.maps[method], bounds[method])
            alt = f"{catalog.method_label(method)} map of image {item.image_index}"
            cells += f"<td>{_tile(rgb, item.mask, (0, 0, 0), alt)}</td>"
        body += f'<tr data-class="{escape(item.class_name)}">{cells}</tr>'
    return (f'<div class="scroll"><table id="gallery"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")
