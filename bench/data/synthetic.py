"""A synthetic image set with exact foreground masks, generated in memory in well under a second.

Each image holds one flat-coloured object whose *shape* is the class (square, disk, triangle,
cross, ring, diamond), with a random size (half-extent 25-40 % of the image side), position and
colour, on a cluttered background: a random base colour with a gentle gradient, pixel noise, thin
distractor strokes and soft blobs (none of them a class shape). Either the object is light and the
background dark or the reverse (random per image; each channel drawn within its range). The object is drawn last and opaque, so its mask is exact: mask pixels are
the object's pixels and nothing else.

Everything is vectorised over images with coordinate grids (no Python loop over pixels). The train
and test sets come from independent generators derived from ``seed``, so the test set does not
depend on ``n_train``; the object/background draws and the clutter draws also use separate
generators, so changing ``clutter`` leaves labels, masks and object pixels unchanged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable

import torch

from bench.data.imageset import ImageSet

__all__ = ["make_synthetic", "SHAPES"]

#: Class names, in label order; ``num_classes`` takes the first ones.
SHAPES: tuple[str, ...] = ("square", "disk", "triangle", "cross", "ring", "diamond")

# Half-extent of the object relative to the image side (the object spans 2 * radius pixels).
_RADIUS_RANGE = (0.25, 0.40)
# Background gradient amplitude (gray levels at the image corners, at most).
_GRADIENT = 14.0
# Background and object colour ranges (gray levels per channel): one of them is dark (0..100),
# the other light (155..255), so every channel differs by >= 55 levels before the gradient, and by
# > 35 after it (|gradient| <= 14 * sqrt(2) < 20), before noise and clutter. A consistent contrast
# polarity across channels (but random per image) lets a small CNN learn the shapes in a few
# epochs; independent per-channel polarities made it much slower (73 % vs 97 % after 3 epochs).
_DARK_MAX = 100
_LIGHT_MIN = 155


def make_synthetic(
    n_train: int,
    n_test: int,
    *,
    seed: int = 0,
    image_size: int = 32,
    num_classes: int = 4,
    clutter: float = 1.0,
    channels: int = 3,
) -> tuple[ImageSet, ImageSet]:
    """Generate ``(train, test)`` shape-classification sets with exact object masks.

    Args:
        n_train: Number of training images (>= 0).
        n_test: Number of test images (>= 0).
        seed: Seed of the whole data set (same seed -> identical tensors).
        image_size: Side of the square images in pixels (>= 12; multiples of 4 suit ``PaperCNN``).
        num_classes: Number of shape classes, 2..6 (default 4: square, disk, triangle, cross).
        clutter: Background clutter strength in [0, 2]: pixel noise std ``8 * clutter`` gray levels,
            ``round(3 * clutter)`` distractor strokes and ``round(2 * clutter)`` soft blobs per
            image. 0 gives a clean gradient background.
        channels: Image channels (3 = RGB; 1 gives gray images).

    Returns:
        ``(train, test)``: ``ImageSet`` with ``uint8`` images (N, channels, S, S), balanced labels
        (each class ``N // num_classes`` or one more times) in random order, ``classes`` =
        ``SHAPES[:num_classes]``, and ``bool`` masks (N, S, S) that are True exactly on the object.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError(f"n_train and n_test must be >= 0, got {n_train}, {n_test}")
    if image_size < 12:
        raise ValueError(
            f"image_size must be >= 12 pixels so that shapes are recognisable, got {image_size}"
        )
    if not 2 <= num_classes <= len(SHAPES):
        raise ValueError(
            f"num_classes must be in 2..{len(SHAPES)} ({', '.join(SHAPES)}), got {num_classes}"
        )
    if not 0.0 <= clutter <= 2.0:
        raise ValueError(f"clutter must be in [0, 2], got {clutter}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    classes = SHAPES[:num_classes]
    sets = []
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels, masks = _generate(
            n, seed, split, image_size, num_classes, clutter, channels
        )
        sets.append(ImageSet(images, labels, classes, masks=masks))
    return sets[0], sets[1]


def _generator(seed: int, stream: str) -> torch.Generator:
    """An independent generator per (seed, stream), so streams never share random numbers."""
    digest = hashlib.sha256(f"rectbench.synthetic|{seed}|{stream}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") >> 1)


def _uniform(g: torch.Generator, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    return torch.rand(shape, generator=g) * (high - low) + low


def _generate(
    n: int, seed: int, split: str, size: int, num_classes: int, clutter: float, channels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = _generator(seed, split)
    labels = (torch.arange(n) % num_classes)[torch.randperm(n, generator=g)]
    coords = torch.arange(size, dtype=torch.float32)
    yy, xx = coords.view(1, size, 1), coords.view(1, 1, size)

    # The object: radius, centre (fully inside the image), colour.
    radius = _uniform(g, (n, 1, 1), *_RADIUS_RANGE) * size
    cx = radius + torch.rand((n, 1, 1), generator=g) * (size - 1 - 2 * radius)
    cy = radius + torch.rand((n, 1, 1), generator=g) * (size - 1 - 2 * radius)
    masks = _shape_masks(labels, (xx - cx) / radius, (yy - cy) / radius, num_classes)

    # Background and object colours: one dark, one light (which one is random per image), each
    # channel drawn independently within its range, so colours vary but contrast is guaranteed.
    dark = torch.randint(0, _DARK_MAX + 1, (n, channels, 1, 1), generator=g).float()
    light = torch.randint(_LIGHT_MIN, 256, (n, channels, 1, 1), generator=g).float()
    light_object = torch.rand((n, 1, 1, 1), generator=g) < 0.5
    base = torch.where(light_object, dark, light)
    colour = torch.where(light_object, light, dark)
    angle = torch.rand((n, 1, 1, 1), generator=g) * 2 * math.pi
    ramp = torch.cos(angle) * (xx / size - 0.5).unsqueeze(1) + torch.sin(angle) * (
        yy / size - 0.5
    ).unsqueeze(1)
    background = base + 2 * _GRADIENT * ramp

    if clutter > 0:
        background = _add_clutter(background, _generator(seed, split + "/clutter"), clutter, xx, yy)
    image = torch.where(masks.unsqueeze(1), colour, background)
    return image.round_().clamp_(0, 255).to(torch.uint8), labels, masks


def _shape_masks(
    labels: torch.Tensor, u: torch.Tensor, v: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """bool (N, S, S): each image's class shape in its own normalised coordinates (u, v), where
    the shape fits in the square |u|, |v| <= 1. A loop over the few classes, not over pixels."""
    n, size = u.shape[0], max(u.shape[2], v.shape[1])
    u = u.expand(n, size, size)
    v = v.expand(n, size, size)
    masks = torch.zeros((n, size, size), dtype=torch.bool)
    for k in range(num_classes):
        sel = labels == k
        if sel.any():
            masks[sel] = _SHAPE_TESTS[SHAPES[k]](u[sel], v[sel])
    return masks


def _ring(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r2 = u * u + v * v
    return (r2 <= 1.0) & (r2 >= 0.55**2)


_SHAPE_TESTS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "square": lambda u, v: (u.abs() <= 0.8) & (v.abs() <= 0.8),
    "disk": lambda u, v: u * u + v * v <= 1.0,
    # Apex at the top (v = -1), base at v = 0.8 spanning u in [-0.9, 0.9].
    "triangle": lambda u, v: (v <= 0.8) & (v >= 2 * u.abs() - 1.0),
    "cross": lambda u, v: (
        ((u.abs() <= 0.3) & (v.abs() <= 1.0)) | ((v.abs() <= 0.3) & (u.abs() <= 1.0))
    ),
    "ring": _ring,
    "diamond": lambda u, v: u.abs() + v.abs() <= 1.0,
}


def _add_clutter(
    background: torch.Tensor, g: torch.Generator, clutter: float, xx: torch.Tensor, yy: torch.Tensor
) -> torch.Tensor:
    """Pixel noise, thin line strokes and soft Gaussian blobs over (N, C, S, S) backgrounds."""
    n, channels, size, _ = background.shape
    out = background + torch.randn(background.shape, generator=g) * (8.0 * clutter)

    strokes = round(3 * clutter)
    if strokes:
        p0 = torch.rand((n, strokes, 2, 1, 1), generator=g) * (size - 1)
        p1 = torch.rand((n, strokes, 2, 1, 1), generator=g) * (size - 1)
        width = _uniform(g, (n, strokes, 1, 1), 0.5, 1.0)  # half-width in pixels
        colour = torch.randint(0, 256, (n, strokes, channels, 1, 1), generator=g).float()
        d = p1 - p0
        # Distance from each pixel to each segment: project onto the segment, clamp to its ends.
        px, py = xx.unsqueeze(1) - p0[:, :, 0], yy.unsqueeze(1) - p0[:, :, 1]
        t = ((px * d[:, :, 0] + py * d[:, :, 1]) / (d.square().sum(2) + 1e-6)).clamp(0, 1)
        dist = torch.hypot(px - t * d[:, :, 0], py - t * d[:, :, 1])
        on = dist <= width  # (N, K, S, S)
        for k in range(strokes):  # painted in order, later strokes on top
            out = torch.where(on[:, k].unsqueeze(1), colour[:, k], out)

    blobs = round(2 * clutter)
    if blobs:
        centre = torch.rand((n, blobs, 2, 1, 1), generator=g) * (size - 1)
        sigma = _uniform(g, (n, blobs, 1, 1), 1.5, 3.0)
        colour = torch.randint(0, 256, (n, blobs, channels, 1, 1), generator=g).float()
        d2 = (xx.unsqueeze(1) - centre[:, :, 0]).square() + (
            yy.unsqueeze(1) - centre[:, :, 1]
        ).square()
        alpha = 0.7 * torch.exp(-d2 / (2 * sigma.square()))  # (N, K, S, S), soft edges: not a disk
        for k in range(blobs):
            a = alpha[:, k].unsqueeze(1)
            out = out * (1 - a) + colour[:, k] * a
    return out
