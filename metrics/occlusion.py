"""Pixel occlusion for ROAR / KAR (Hooker et al. 2019; RectGrad paper, appendix G).

ROAR ("remove and retrain") replaces the most relevant pixels of every image, KAR ("keep and
retrain") replaces all the others. A pixel is one spatial position: all its channels are replaced
together by a per-channel fill value (the paper uses the training set's per-channel mean).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from metrics._checks import check_fraction, check_images, check_maps

__all__ = ["occlude", "random_occlude", "top_fraction_mask", "pixel_count"]


def pixel_count(fraction: float, height: int, width: int) -> int:
    """k = round(fraction * H * W), Python's round (half to even), as used by every occlusion."""
    return round(check_fraction(fraction) * height * width)


def top_fraction_mask(
    maps: torch.Tensor, fraction: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Bool mask (N, H, W) of exactly k = round(fraction * H * W) pixels with the largest map values.

    Ties are broken at random by ``generator``: pixels are ranked by (map value, random key), so
    the count is exact and, unlike adding noise to the maps, distinct values are never reordered.
    The same maps and generator state always select the same pixels.

    Args:
        maps: Float tensor (N, H, W), finite.
        fraction: In [0, 1].
        generator: Seeded ``torch.Generator`` (CPU or the maps' device) for the tie-break;
            ``None`` uses torch's global generator.
    """
    maps = check_maps(maps)
    n, height, width = maps.shape
    k = pixel_count(fraction, height, width)
    return _top_k_mask(maps.reshape(n, -1), k, generator).reshape(n, height, width)


def occlude(
    images: torch.Tensor,
    maps: torch.Tensor,
    fraction: float,
    keep: bool = False,
    *,
    fill: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Replace the most (ROAR) or least (KAR) relevant pixels of each image by ``fill``.

    Exactly k = round(fraction * H * W) pixels per image are ranked "most relevant" (largest map
    values, ties broken at random by ``generator``, see :func:`top_fraction_mask`). ROAR
    (``keep=False``) replaces those k pixels; KAR (``keep=True``) keeps them and replaces the other
    H * W - k. For the same maps and generator state the two are complementary. The input is not
    modified.

    Args:
        images: (N, C, H, W), uint8 (0..255) or float.
        maps: Float tensor (N, H, W), finite, ranking the pixels of the matching image.
        fraction: In [0, 1]; the fraction of pixels ranked most relevant.
        keep: False for ROAR (remove the top pixels), True for KAR (keep them).
        fill: Per-channel values (C,) in the images' units; rounded and converted to the images'
            dtype (uint8 fills must lie in [0, 255]).
        generator: Seeded ``torch.Generator`` (CPU) for the tie-break.

    Returns:
        A new tensor like ``images``.

    Example:
        >>> images = torch.full((1, 1, 2, 2), 9, dtype=torch.uint8)
        >>> maps = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
        >>> occlude(images, maps, 0.5, fill=[0])[0, 0].tolist()
        [[0, 0], [9, 9]]
    """
    images = check_images(images)
    maps = check_maps(maps)
    n, _, height, width = images.shape
    if maps.shape != (n, height, width):
        raise ValueError(
            f"maps must have shape (N, H, W) = {(n, height, width)} to match images, "
            f"got {tuple(maps.shape)}"
        )
    top = top_fraction_mask(maps, fraction, generator)
    return _replace(images, top if not keep else ~top, fill)


def random_occlude(
    images: torch.Tensor,
    fraction: float,
    keep: bool = False,
    *,
    fill: torch.Tensor | Sequence[float],
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The Random baseline of ROAR / KAR: exactly k = round(fraction * H * W) random pixels.

    The k pixels are drawn uniformly without replacement per image; ROAR (``keep=False``) replaces
    them, KAR (``keep=True``) replaces the others. Arguments and result as in :func:`occlude`.
    """
    images = check_images(images)
    n, _, height, width = images.shape
    k = pixel_count(fraction, height, width)
    flat = torch.zeros(n, height * width, device=images.device)
    top = _top_k_mask(flat, k, generator).reshape(n, height, width)
    return _replace(images, top if not keep else ~top, fill)


def _top_k_mask(scores: torch.Tensor, k: int, generator: torch.Generator | None) -> torch.Tensor:
    n, size = scores.shape
    # A random permutation first, then a stable descending sort by value: equal values keep the
    # random order, so ties are broken at random and the selection has exactly k entries.
    key_device = generator.device if generator is not None else torch.device("cpu")
    keys = torch.rand(n, size, generator=generator, device=key_device).to(scores.device)
    permutation = keys.argsort(dim=1)
    order = scores.gather(1, permutation).sort(dim=1, descending=True, stable=True).indices
    chosen = permutation.gather(1, order[:, :k])
    mask = torch.zeros(n, size, dtype=torch.bool, device=scores.device)
    return mask.scatter_(1, chosen, True)


def _fill_vector(fill: torch.Tensor | Sequence[float], images: torch.Tensor) -> torch.Tensor:
    channels = images.shape[1]
    try:
        values = torch.as_tensor(fill, dtype=torch.float64).flatten()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"fill must be {channels} per-channel numbers, got {fill!r}") from error
    if values.numel() != channels:
        raise ValueError(f"fill must have one value per channel ({channels}), got {values.numel()}")
    if not bool(torch.isfinite(values).all()):
        raise ValueError(f"fill must be finite, got {values.tolist()}")
    if images.dtype == torch.uint8:
        values = values.round()
        if bool((values < 0).any() or (values > 255).any()):
            raise ValueError(f"fill must lie in [0, 255] for uint8 images, got {values.tolist()}")
    return values.to(device=images.device, dtype=images.dtype)


def _replace(
    images: torch.Tensor, where: torch.Tensor, fill: torch.Tensor | Sequence[float]
) -> torch.Tensor:
    value = _fill_vector(fill, images).view(1, -1, 1, 1)
    return torch.where(where.unsqueeze(1), value, images)
