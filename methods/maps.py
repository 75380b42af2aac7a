"""Attributions (N, C, H, W) -> 2-D maps (N, H, W), with the paper's optional post-processing.

Follows the authors' ``utils.preprocess(attributions, q1, q2)`` (github.com/1202kbs/
Rectified-Gradient): per map, ``lo`` and ``hi`` are the q1-th / q2-th percentiles (numpy's default
linear interpolation, which ``torch.quantile``'s default matches); every value is clipped to
``[lo, hi]``, and values that were below ``lo`` become 0 when ``lo > 0`` (else they stay at ``lo``).
Their baselines use ``preprocess(a, 95, 100)`` (the "final threshold"); RectGrad maps are the
positive part of the attribution, which ``preprocess(a, 0, 100)`` leaves unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from methods.percentile import check_percentile

__all__ = ["to_map"]


def _cast_finite(maps: Tensor, dtype: torch.dtype) -> Tensor:
    """float64 maps -> ``dtype``; ``ValueError`` with the reason if a value does not fit."""
    if not bool(torch.isfinite(maps).all()):
        raise ValueError("the maps overflow float64; rescale the attributions")
    out = maps.to(dtype)
    if not bool(torch.isfinite(out).all()):
        largest = float(maps.abs().max())
        raise ValueError(
            f"maps overflow {dtype}: a channel sum reaches {largest:.3g}, beyond the largest "
            f"{dtype} value {torch.finfo(dtype).max:.3g}; rescale the attributions (e.g. divide "
            "by their maximum) or pass them as float64"
        )
    return out


def _per_map_quantile(flat: Tensor, percentile: float) -> Tensor:
    """(N, P) -> (N, 1): linear-interpolated percentile of each row."""
    q = torch.tensor(percentile / 100.0, dtype=flat.dtype, device=flat.device)
    return torch.quantile(flat, q, dim=1, keepdim=True)


def to_map(
    attributions: Tensor,
    *,
    positive_only: bool = False,
    final_threshold_percentile: float | None = None,
    clip_percentiles: Sequence[float] | None = None,
) -> Tensor:
    """Sum attributions over the channels and apply the paper's optional post-processing.

    Steps, in this order (each optional but the sum):

    1. ``positive_only``: keep the positive part of each attribution value, before the channel sum
       (the authors' ``np.where(a > 0, a, 0)`` for RectGrad; ROAR ranks RectGrad by this).
    2. Channel sum: (N, C, H, W) -> (N, H, W) (paper appendix F.1).
    3. ``final_threshold_percentile=q`` (the paper's 95 for the baselines): per map, with
       ``p = q``-th percentile and ``m = max``, values below ``p`` are set to 0 when ``p > 0``,
       then all values are clipped to ``[p, m]`` (so values below a non-positive ``p`` become ``p``).
    4. ``clip_percentiles=(lo, hi)`` (the paper's figures use (0.5, 99.5)): per map, clip to the
       ``lo``-th / ``hi``-th percentiles. Display only.

    Percentiles are linear-interpolated (numpy's and ``torch.quantile``'s default), per map.
    Computed in the attributions' dtype; where that overflows (float32 values near 3e38: the
    channel sum becomes inf, the percentile interpolation NaN) it is recomputed in float64, and a
    map value that does not fit the attributions' dtype raises ``ValueError``, never inf or NaN.

    Args:
        attributions: Floating tensor (N, C, H, W), finite.
        positive_only: See step 1. Default: False.
        final_threshold_percentile: q in [0, 100] or None (no threshold). Default: None.
        clip_percentiles: ``(lo, hi)`` with 0 <= lo <= hi <= 100, or None. Default: None.

    Returns:
        Maps (N, H, W), same dtype and device as ``attributions``.
    """
    if not isinstance(attributions, Tensor) or not attributions.is_floating_point():
        raise ValueError("attributions must be a floating-point tensor of shape (N, C, H, W)")
    if attributions.dim() != 4:
        raise ValueError(
            f"attributions must have shape (N, C, H, W), got {tuple(attributions.shape)}"
        )
    if not bool(torch.isfinite(attributions).all()):
        raise ValueError("attributions contain NaN or infinite values")
    if final_threshold_percentile is not None:
        final_threshold_percentile = check_percentile(
            final_threshold_percentile, "final_threshold_percentile"
        )
    if clip_percentiles is not None:
        if isinstance(clip_percentiles, (str, bytes)) or len(clip_percentiles) != 2:
            raise ValueError(f"clip_percentiles must be a pair (lo, hi), got {clip_percentiles!r}")
        lo = check_percentile(clip_percentiles[0], "clip_percentiles[0]")
        hi = check_percentile(clip_percentiles[1], "clip_percentiles[1]")
        if lo > hi:
            raise ValueError(f"clip_percentiles must satisfy lo <= hi, got {clip_percentiles!r}")
        clip_percentiles = (lo, hi)

    maps, finite = _maps(attributions, positive_only, final_threshold_percentile,
                         clip_percentiles)
    if finite:
        return maps
    wide, _ = _maps(attributions.to(torch.float64), positive_only, final_threshold_percentile,
                    clip_percentiles)
    return _cast_finite(wide, attributions.dtype)


def _maps(
    attributions: Tensor,
    positive_only: bool,
    final_threshold_percentile: float | None,
    clip_percentiles: Sequence[float] | None,
) -> tuple[Tensor, bool]:
    """The steps of :func:`to_map` on validated arguments, in the attributions' dtype.

    Returns the maps and whether every intermediate was finite: an overflow shows as inf in the
    channel sum, or as an infinite or NaN percentile (the interpolation ``lo + w * (hi - lo)``
    overflows even for finite maps), which could otherwise clip finite maps wrongly.
    """
    values = attributions.clamp(min=0) if positive_only else attributions
    maps = values.sum(dim=1)
    n, height, width = maps.shape
    if n == 0 or height * width == 0:
        return maps, True
    flat = maps.reshape(n, -1)
    bounds = [flat]
    if final_threshold_percentile is not None:
        low = _per_map_quantile(flat, final_threshold_percentile)
        high = flat.amax(dim=1, keepdim=True)
        below = flat < low
        flat = flat.clamp(min=low, max=high)
        flat = torch.where(below & (low > 0), torch.zeros_like(flat), flat)
        bounds.append(low)
    if clip_percentiles is not None:
        lo = _per_map_quantile(flat, clip_percentiles[0])
        hi = _per_map_quantile(flat, clip_percentiles[1])
        flat = flat.clamp(min=lo, max=hi)
        bounds += [lo, hi]
    finite = all(bool(torch.isfinite(b).all()) for b in bounds)
    return flat.reshape(n, height, width), finite
