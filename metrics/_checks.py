"""Input checks shared by the metrics: each raises ``ValueError`` naming the offending argument.

Metrics never broadcast silently: a mask of another shape or a NaN in a map is a caller's bug,
and the message says which argument and what was expected.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch

__all__ = ["check_maps", "check_images", "check_fraction", "check_mask", "nan_where", "warn_nan",
           "widen_on_overflow", "cast_back"]


def _check_batch(x: object, name: str, dims: str) -> torch.Tensor:
    """``x`` must be a tensor of shape ``dims`` (e.g. ``"N, H, W"``), every size >= 1."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape ({dims}), got {type(x).__name__}")
    axes = dims.split(", ")
    if x.ndim != len(axes):
        raise ValueError(f"{name} must have shape ({dims}), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (N = 0)")
    if min(x.shape[1:]) == 0:
        raise ValueError(f"{name} must have {', '.join(axes[1:])} >= 1, got shape {tuple(x.shape)}")
    return x


def check_maps(maps: object, name: str = "maps") -> torch.Tensor:
    """``maps`` must be a finite floating tensor of shape (N, H, W) with N, H, W >= 1."""
    maps = _check_batch(maps, name, "N, H, W")
    if not maps.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {maps.dtype}")
    # A finite sum proves every entry finite without allocating a mask; only an overflowing or
    # non-finite sum needs the exact check.
    if not bool(torch.isfinite(maps.sum())) and not bool(torch.isfinite(maps).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return maps


def check_images(images: object, name: str = "images") -> torch.Tensor:
    """``images`` must be a uint8 or floating tensor of shape (N, C, H, W), N, C, H, W >= 1."""
    images = _check_batch(images, name, "N, C, H, W")
    if images.dtype != torch.uint8 and not images.is_floating_point():
        raise ValueError(f"{name} must be uint8 or floating point, got dtype {images.dtype}")
    return images


def check_mask(mask: object, shape: torch.Size, name: str = "foreground") -> torch.Tensor:
    """``mask`` must be a bool tensor of exactly ``shape``."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name} must be a bool torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise ValueError(f"{name} must have dtype torch.bool, got {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(
            f"{name} must have the maps' shape {tuple(shape)}, got {tuple(mask.shape)}"
        )
    return mask


def check_fraction(fraction: object, name: str = "fraction") -> float:
    """``fraction`` must be a real number in [0, 1]."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise ValueError(f"{name} must be a number in [0, 1], got {fraction!r}")
    value = float(fraction)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must be in [0, 1], got {fraction!r}")
    return value


def nan_where(values: torch.Tensor, undefined: torch.Tensor) -> torch.Tensor:
    """``values`` with NaN where ``undefined`` is True (a new tensor)."""
    return torch.where(undefined, torch.full_like(values, float("nan")), values)


def warn_nan(values: torch.Tensor, what: str) -> None:
    """One warning per call when some values are NaN, saying how many and why."""
    count = int(torch.isnan(values).sum())
    if count:
        warnings.warn(
            f"{what}: {count} of {values.numel()} values are undefined and set to NaN",
            RuntimeWarning,
            stacklevel=3,
        )




def widen_on_overflow(
    compute: Callable[[torch.Tensor], tuple[torch.Tensor, ...]], maps: torch.Tensor, what: str
) -> tuple[torch.Tensor, ...]:
    """``compute(maps)``, recomputed on float64 maps if a part overflows to inf.

    ``maps`` must be finite (see :func:`check_maps`), so an infinite part means an overflow in the
    maps' dtype. Returns the parts in the dtype they were computed in (cast them back with
    :func:`cast_back`); ``ValueError`` if float64 overflows too.
    """
    parts = compute(maps)
    if not any(bool(torch.isinf(p).any()) for p in parts):
        return parts
    parts = compute(maps.to(torch.float64))
    if any(bool(torch.isinf(p).any()) for p in parts):
        raise ValueError(f"{what} overflows float64; rescale the maps")
    return parts


def cast_back(values: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
    """``values`` in ``dtype``; ``ValueError`` naming the score if a value does not fit."""
    out = values.to(dtype)
    if bool(torch.isinf(out).any()):
        largest = float(values[torch.isinf(out)].abs().max())
        raise ValueError(
            f"{what} overflows {dtype}: a value reaches {largest:.3g} (largest {dtype}: "
            f"{torch.finfo(dtype).max:.3g}); rescale the maps, e.g. divide them by their "
            "maximum absolute value"
        )
    return out
