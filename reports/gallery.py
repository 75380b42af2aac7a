"""Decode the stored attribution gallery (the ``gallery`` table's blobs) into arrays.

Blob layouts (docs/ARCHITECTURE.md): ``map`` float32 H*W (the channel-summed map), ``image``
uint8 C*H*W, ``mask`` one byte per pixel (H*W, nonzero = object) or NULL. Native byte order, as
numpy's ``tobytes`` writes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .names import Catalog

__all__ = ["GalleryImage", "decode_gallery", "display_limits"]


@dataclass(frozen=True)
class GalleryImage:
    """One test image with every method's map.

    Attributes:
        image_index: The image's index in the run's test set.
        label: Its class index.
        class_name: Its class's name (``"class <label>"`` when none is stored).
        image: (H, W, C) uint8 for display (C = 1 or 3).
        mask: (H, W) bool (True = object), or None.
        maps: ``{method: (H, W) float32 map}`` in display order.
    """

    image_index: int
    label: int
    class_name: str
    image: np.ndarray
    mask: np.ndarray | None
    maps: dict[str, np.ndarray]


def _blob(value: object, name: str, dtype: type, size: int, image_index: int) -> np.ndarray:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(
            f"gallery.{name} of image {image_index}: expected a BLOB, got {type(value).__name__}"
        )
    array = np.frombuffer(bytes(value), dtype=dtype)
    if size and array.size % size:
        raise ValueError(
            f"gallery.{name} of image {image_index}: {array.size} values, not a multiple of H*W={size}"
        )
    return array


def decode_gallery(gallery: pd.DataFrame, catalog: Catalog | None = None) -> list[GalleryImage]:
    """The gallery's images grouped by class (class order, then image index within a class), each with every stored method's map (in the catalog's display order; stored order
    without a catalog).

    Raises:
        ValueError: a blob's size does not match ``height * width`` (or C * that for images).
    """
    items: list[GalleryImage] = []
    if gallery.empty:
        return items
    for index, rows in gallery.groupby("image_index", sort=True):
        first = rows.iloc[0]
        h, w = int(first["height"]), int(first["width"])
        if h <= 0 or w <= 0:
            raise ValueError(f"gallery: image {index} has size {h}x{w}")
        pixels = _blob(first["image"], "image", np.uint8, h * w, int(index))
        channels = pixels.size // (h * w)
        image = pixels.reshape(channels, h, w).transpose(1, 2, 0)
        mask = None
        if first["mask"] is not None and not pd.isna(first["mask"]):
            mask = _blob(first["mask"], "mask", np.uint8, h * w, int(index)).reshape(h, w) != 0
        by_method = {str(r["method"]): r for _, r in rows.iterrows()}
        maps: dict[str, np.ndarray] = {}
        for method in catalog.order_methods(by_method) if catalog else list(by_method):
            values = _blob(by_method[method]["map"], "map", np.float32, h * w, int(index))
            if values.size != h * w:
                raise ValueError(
                    f"gallery.map of image {index}, {method}: {values.size} values, expected {h * w}"
                )
            maps[method] = values.reshape(h, w)
        name = first["class_name"]
        class_name = str(name) if name is not None and not pd.isna(name) else ""
        items.append(
            GalleryImage(
                image_index=int(index), label=int(first["label"]),
                class_name=class_name or f"class {int(first['label'])}", image=image, mask=mask,
                maps=maps,
            )
        )
    return sorted(items, key=lambda item: (item.label, item.image_index))


def display_limits(attribution_map: np.ndarray) -> tuple[float, float]:
    """Symmetric colour limits ``(-v, v)`` for a map clipped at its 0.5th/99.5th percentiles.

    The paper's display rule (PROTOCOL.md, "For figures only"): clipping keeps a few extreme pixels
    from washing out the rest; symmetric limits keep zero at the colour map's centre.
    """
    finite = attribution_map[np.isfinite(attribution_map)]
    if finite.size == 0:
        return (-1.0, 1.0)
    low, high = np.percentile(finite, [0.5, 99.5])
    bound = float(max(abs(low), abs(high)))
    return (-bound, bound) if bound > 0 else (-1.0, 1.0)
