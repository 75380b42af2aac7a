"""Per-image scores of saliency maps: patch attribution, background mass, total variation.

These are the RectGrad paper's quantitative map scores (Kim et al. 2019, Figures 7 and 8). Each is a
pure function of (N, H, W) maps returning one value per image, vectorised over the batch, on any
device, float32 or float64 (the result has the maps' dtype). A score is computed in the maps'
dtype; if that overflows (float32 maps near 3e38: sums and differences become inf), it is
recomputed in float64, and a result that still does not fit the maps' dtype raises ``ValueError``
saying so, never inf or NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from metrics._checks import (
    cast_back,
    check_maps,
    check_mask,
    nan_where,
    warn_nan,
    widen_on_overflow,
)

__all__ = [
    "PAPER_PATCH_BOX",
    "scored_patch_box",
    "patch_attribution",
    "background_mass",
    "total_variation",
]


def scored_patch_box(patch_size: int, top: int = 0, left: int = 0) -> tuple[int, int, int, int]:
    """The box ``(top, left, height, width)`` patch attribution scores for a square patch of side
    ``patch_size`` pasted at (``top``, ``left``): its first ``patch_size - 2`` rows and columns.

    The paper scores the top-left 8x8 of its 10x10 patch: the first 3x3 convolution's receptive
    field mixes the patch's outer ring with the image, so that ring is ambiguous.
    """
    if isinstance(patch_size, bool) or not isinstance(patch_size, int) or patch_size < 1:
        raise ValueError(f"patch_size must be an int >= 1, got {patch_size!r}")
    side = max(1, patch_size - 2)
    return (top, left, side, side)


PAPER_PATCH_BOX: tuple[int, int, int, int] = scored_patch_box(10)
"""The paper's scoring box: the top-left 8x8 inside its 10x10 patch (see :func:`scored_patch_box`)."""


def patch_attribution(
    maps: torch.Tensor, box: tuple[int, int, int, int] = PAPER_PATCH_BOX
) -> torch.Tensor:
    """Attribution mass inside a box: sum of |map| over the box, per image.

    The training-dataset occlusion experiment (paper Figure 7): a fixed random patch pasted on every
    training and test image carries no class information, so a faithful map puts no mass on it.
    Lower is better, because mass on the uninformative patch is noise.

    Args:
        maps: Float tensor (N, H, W), finite.
        box: ``(top, left, height, width)`` in pixels, inside the map; default the paper's
            top-left 8x8 ``(0, 0, 8, 8)``.

    Returns:
        Tensor (N,) in the maps' dtype and units (sum of absolute map values).

    Example:
        >>> patch_attribution(torch.ones(2, 32, 32)).tolist()
        [64.0, 64.0]
    """
    maps = check_maps(maps)
    top, left, height, width = _check_box(box, maps.shape[1], maps.shape[2])

    def inside(m: torch.Tensor) -> torch.Tensor:
        return m[:, top : top + height, left : left + width].abs().sum(dim=(1, 2))

    return _score(inside, maps, "patch_attribution")


def background_mass(
    maps: torch.Tensor, foreground: torch.Tensor, normalize: bool = False
) -> torch.Tensor:
    """Attribution mass off the object: sum of |map| where ``foreground`` is False, per image.

    Paper Figure 8 (top) uses the raw sum. ``normalize=True`` divides by the total sum of |map|,
    giving the fraction of the mass off the object, which is comparable across methods whose maps
    have different scales; it equals ``1 - quantus.RelevanceMassAccuracy(abs=True)`` (except that
    an empty foreground gives 1 here, NaN in Quantus). Lower is better for both, because a map that
    explains the object should put its mass on the object.

    Args:
        maps: Float tensor (N, H, W), finite.
        foreground: Bool tensor (N, H, W), True on the object.
        normalize: Divide by sum |map|. An all-zero map has no mass to distribute: NaN (one warning).

    Returns:
        Tensor (N,) in the maps' dtype: mass in map units, or a fraction in [0, 1] if normalized.

    Example:
        >>> maps = torch.tensor([[[1.0, -2.0], [3.0, 4.0]]])
        >>> fg = torch.tensor([[[True, False], [False, True]]])
        >>> background_mass(maps, fg).tolist(), background_mass(maps, fg, normalize=True).tolist()
        ([5.0], [0.5])
    """
    maps = check_maps(maps)
    foreground = check_mask(foreground, maps.shape, "foreground")

    def outside(m: torch.Tensor) -> torch.Tensor:
        return m.abs().masked_fill(foreground, 0).sum(dim=(1, 2))

    if not normalize:
        return _score(outside, maps, "background_mass")
    return _divide_by_mass(outside, maps, "background_mass(normalize=True)")


def total_variation(maps: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Total variation of each map: sum of |differences| of vertical and horizontal neighbours.

    The same quantity as ``tf.image.total_variation`` on one map (paper Figure 8, bottom):
    ``sum |m[i+1, j] - m[i, j]| + sum |m[i, j+1] - m[i, j]|`` on the signed map values.
    ``normalize=True`` divides by sum |map| so that maps of different scales compare (an all-zero
    map gives NaN with one warning). Lower is better, because a coherent map is spatially smooth
    and noise raises the variation.

    Args:
        maps: Float tensor (N, H, W), finite.
        normalize: Divide by the map's total absolute mass.

    Returns:
        Tensor (N,) in the maps' dtype: map units, or a unit-free ratio if normalized.

    Example:
        >>> total_variation(torch.tensor([[[0.0, 1.0], [2.0, 4.0]]])).tolist()
        [6.0]
    """
    maps = check_maps(maps)
    if not normalize:
        return _score(_variation, maps, "total_variation")
    return _divide_by_mass(_variation, maps, "total_variation(normalize=True)")


def _variation(m: torch.Tensor) -> torch.Tensor:
    vertical = (m[:, 1:, :] - m[:, :-1, :]).abs().sum(dim=(1, 2))
    horizontal = (m[:, :, 1:] - m[:, :, :-1]).abs().sum(dim=(1, 2))
    return vertical + horizontal


def _score(
    score: Callable[[torch.Tensor], torch.Tensor], maps: torch.Tensor, what: str
) -> torch.Tensor:
    (value,) = widen_on_overflow(lambda m: (score(m),), maps, what)
    return cast_back(value, maps.dtype, what)


def _divide_by_mass(
    score: Callable[[torch.Tensor], torch.Tensor], maps: torch.Tensor, what: str
) -> torch.Tensor:
    """``score(maps) / sum |maps|`` per map; NaN (one warning) for all-zero maps."""
    value, total = widen_on_overflow(
        lambda m: (score(m), m.abs().sum(dim=(1, 2))), maps, what
    )
    empty = total == 0
    # Dividing by a safe 1 first avoids inf/NaN arithmetic; the undefined entries are set after.
    result = nan_where(value / torch.where(empty, torch.ones_like(total), total), empty)
    warn_nan(result, f"{what}: all-zero maps have no attribution mass")
    return cast_back(result, maps.dtype, what)


def _check_box(box: object, height: int, width: int) -> tuple[int, int, int, int]:
    if (
        not isinstance(box, (tuple, list))
        or len(box) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in box)
    ):
        raise ValueError(f"box must be four ints (top, left, height, width), got {box!r}")
    top, left, box_h, box_w = box
    if top < 0 or left < 0 or box_h < 1 or box_w < 1:
        raise ValueError(f"box needs top, left >= 0 and height, width >= 1, got {box!r}")
    if top + box_h > height or left + box_w > width:
        raise ValueError(f"box {box!r} does not fit in maps of size {height}x{width}")
    return top, left, box_h, box_w
