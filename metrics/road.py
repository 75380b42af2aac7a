"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci; "A Consistent and Efficient
Evaluation Strategy for Attribution Methods", ICML 2022).

ROAR retrains a model on occluded images, and the *shape* of the occlusion can leak the class
(PROTOCOL.md: a CNN on the removal mask alone reaches 0.63 with Deconvolution's masks). ROAD
removes pixels without retraining and without leaking their positions: each removed pixel is
replaced by the weighted mean of its 8 neighbours (weight 1/6 for the 4 direct, 1/12 for the 4
diagonal neighbours, renormalised over the neighbours inside the image), where neighbours that
are removed too are unknowns of the same linear system, plus Gaussian noise. The model is then
asked again, at several removal levels, in the MoRF (most relevant first) or LeRF (least relevant
first) order.

Choices, against the authors' code (github.com/tleemann/road_evaluation, ``road/imputations.py``):

- Noise: their ``NoisyLinearImputer(noise=0.01)`` adds N(0, 0.01^2) to images in [0, 1], before
  normalisation; here the std is ``noise * value_range`` (default 0.01 * 255 for ``uint8``).
- Levels: ``fraction`` is the share of pixels *removed* in both orders (MoRF removes the top-ranked
  ``k = round(fraction * H * W)``, LeRF the bottom-ranked k). Their ``remove=False`` (LeRF) at
  ``th_p = p`` keeps the top p and removes the rest, i.e. our LeRF at ``1 - p``. They count
  ``int(p * H * W)`` pixels; we round, as ``metrics.occlusion`` does.
- Ties: broken at random by ``generator`` (``metrics.occlusion.top_fraction_mask``); they add
  N(0, 1e-4^2) to min-max normalised maps.
- One block-diagonal sparse system per batch of images (independent per image), solved exactly
  with SciPy's SuperLU, as their ``spsolve`` per image.

Quantus 0.6.0's ``ROAD`` raises ``IndexError`` on RGB images (it ranks the (C, H, W) attributions
but imputes H * W pixel positions); this module takes any channel count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metrics._checks import check_fraction, check_images, check_maps
from metrics.occlusion import top_fraction_mask

__all__ = [
    "ORDERS",
    "HIGHER_IS_BETTER",
    "NEIGHBOUR_WEIGHTS",
    "RoadCurves",
    "noisy_linear_imputation",
    "road_curves",
    "road_scores",
]

ORDERS: tuple[str, str] = ("morf", "lerf")

#: Direction of :func:`road_scores` per order: MoRF lower is better (removing the pixels a faithful
#: map ranks highest should change the prediction early), LeRF higher is better (removing the
#: pixels it ranks lowest should leave the prediction standing).
HIGHER_IS_BETTER: dict[str, bool] = {"morf": False, "lerf": True}

#: ((dy, dx), weight) of the 8 neighbours: 1/6 direct, 1/12 diagonal; they sum to 1.
NEIGHBOUR_WEIGHTS: tuple[tuple[tuple[int, int], float], ...] = (
    ((-1, 0), 1 / 6),
    ((1, 0), 1 / 6),
    ((0, -1), 1 / 6),
    ((0, 1), 1 / 6),
    ((-1, -1), 1 / 12),
    ((-1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((1, 1), 1 / 12),
)


@dataclass(frozen=True)
class RoadCurves:
    """The model's answers on the imputed images, one row per image, one column per level.

    Attributes:
        order: "morf" or "lerf".
        fractions: Removal levels (share of pixels removed), increasing.
        correct: bool (N, L): the prediction (argmax) equals the target at that level.
        probability: float64 (N, L): softmax probability of the target at that level.
    """

    order: str
    fractions: tuple[float, ...]
    correct: torch.Tensor
    probability: torch.Tensor


def noisy_linear_imputation(
    images: torch.Tensor,
    removed: torch.Tensor,
    *,
    noise: float = 0.01,
    value_range: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Replace the ``removed`` pixels of each image by ROAD's noisy linear imputation.

    For every removed pixel i, ``sum_j w_ij (x_i - x_j) = 0`` over its neighbours j inside the image
    (weights :data:`NEIGHBOUR_WEIGHTS`), where x_j is the known value of a kept neighbour or the
    unknown of a removed one: each imputed value is the weighted mean of its neighbours. All
    channels of a pixel are imputed together (one right-hand side per channel). Then
    N(0, (noise * value_range)^2) is added to each imputed value. Kept pixels are not changed.

    Args:
        images: (N, C, H, W), ``uint8`` or float, any channel count.
        removed: bool (N, H, W), True where a pixel is removed; every image must keep at least one
            pixel (with none kept the system has no solution).
        noise: Noise std relative to ``value_range`` (ROAD's default 0.01); 0 for none.
        value_range: Span of the image values; None: 255 for ``uint8``, 1 for float (the
            authors' [0, 1] images). Pass 2 for images in [-1, 1].
        generator: Seeded ``torch.Generator`` (CPU) for the noise; same state, same result.

    Returns:
        A new tensor like ``images``; ``uint8`` results are rounded and clipped to [0, 255].

    Example:
        >>> image = torch.tensor([[[[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [6.0, 6.0, 6.0]]]])
        >>> removed = torch.zeros(1, 3, 3, dtype=torch.bool)
        >>> removed[0, 1, 1] = True
        >>> noisy_linear_imputation(image, removed, noise=0.0)[0, 0, 1, 1].item()  # 6/6 + (6 + 6)/12
        2.0
    """
    images = check_images(images)
    removed = _check_removed(removed, images)
    if not (noise >= 0.0):
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    scale = _value_range(images, value_range) * float(noise)
    n, channels, height, width = images.shape
    kept = (~removed).reshape(n, -1).sum(1)
    if bool((kept == 0).any()):
        raise ValueError(
            f"removed must keep at least one pixel of every image; images "
            f"{torch.nonzero(kept == 0).flatten().tolist()} have all {height * width} removed"
        )
    values = images.detach().to("cpu", torch.float64)
    mask = removed.to("cpu")
    solution = _solve(mask, values)  # (V, C)
    if scale > 0 and solution.numel():
        solution = solution + scale * torch.randn(
            solution.shape, generator=generator, dtype=torch.float64
        )
    filled = values.permute(0, 2, 3, 1).clone()
    filled[mask] = solution
    out = filled.permute(0, 3, 1, 2)
    if images.dtype == torch.uint8:
        out = out.round().clamp(0, 255)
    return out.to(device=images.device, dtype=images.dtype).contiguous()


def road_curves(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    maps: torch.Tensor,
    targets: torch.Tensor,
    fractions: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
    *,
    order: str = "morf",
    noise: float = 0.01,
    value_range: float | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 100,
) -> RoadCurves:
    """Remove pixels in ``order`` at each level, impute them (:func:`noisy_linear_imputation`) and
    record whether the model still predicts the target, and the target's probability.

    Args:
        model: Called on imputed images *in the units and dtype of* ``images`` (wrap it, e.g.
            ``lambda x: net(to_model_input(x))`` for ``uint8`` images); returns logits (B, K).
            Called under ``torch.no_grad``.
        images: (N, C, H, W), ``uint8`` or float, any channel count.
        maps: float (N, H, W) ranking the pixels (larger = more relevant).
        targets: int64 (N,): the class to track (the prediction on the clean image, or the label).
        fractions: Distinct shares of pixels removed, in [0, 1).
        order: "morf" (most relevant removed first) or "lerf" (least relevant first).
        noise, value_range: See :func:`noisy_linear_imputation`.
        generator: Seeded CPU generator for the tie-breaks and the noise.
        batch_size: Images imputed and scored at once.

    Returns:
        :class:`RoadCurves` with (N, L) tables, levels sorted increasingly.
    """
    images = check_images(images)
    maps = check_maps(maps)
    n, _, height, width = images.shape
    if maps.shape != (n, height, width):
        raise ValueError(f"maps must have shape {(n, height, width)}, got {tuple(maps.shape)}")
    if not isinstance(targets, torch.Tensor) or targets.dtype != torch.int64:
        raise ValueError("targets must be an int64 tensor of shape (N,)")
    if tuple(targets.shape) != (n,):
        raise ValueError(f"targets must have shape ({n},), got {tuple(targets.shape)}")
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    levels = _check_levels(fractions, height * width)
    ranking = maps if order == "morf" else -maps
    correct = torch.zeros(n, len(levels), dtype=torch.bool)
    probability = torch.zeros(n, len(levels), dtype=torch.float64)
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        for column, fraction in enumerate(levels):
            removed = top_fraction_mask(ranking[part], fraction, generator)
            imputed = noisy_linear_imputation(
                images[part], removed, noise=noise, value_range=value_range, generator=generator
            )
            with torch.no_grad():
                logits = model(imputed)
            target = targets[part].to(logits.device)
            correct[part, column] = (logits.argmax(1) == target).cpu()
            p = F.softmax(logits.double(), dim=1).gather(1, target.unsqueeze(1)).squeeze(1)
            probability[part, column] = p.cpu()
    return RoadCurves(order, tuple(levels), correct, probability)


def road_scores(curves: RoadCurves, statistic: str = "accuracy") -> torch.Tensor:
    """Per-image ROAD score: the mean over levels of the ``statistic``, float64 (N,) in [0, 1].

    ``"accuracy"``: share of levels at which the prediction is still the target (as Quantus'
    ROAD per image); ``"probability"``: mean probability of the target. Direction
    (:data:`HIGHER_IS_BETTER`): MoRF lower is better, LeRF higher is better. The mean over the
    levels is the curve's mean height for evenly spaced levels.
    """
    if statistic == "accuracy":
        return curves.correct.double().mean(1)
    if statistic == "probability":
        return curves.probability.mean(1)
    raise ValueError(f"statistic must be 'accuracy' or 'probability', got {statistic!r}")


# --- the linear system ----------------------------------------------------------------------------


def _solve(removed: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Imputed values (V, C) of the V removed pixels, in ``removed``'s row-major order.

    Builds the block-diagonal system of all images with tensor operations (8 shifted views, no
    loop over pixels) and solves it with SciPy's sparse LU (COLAMD ordering) in one call.
    """
    n, channels, height, width = values.shape
    count = int(removed.sum())
    if count == 0:
        return torch.zeros(0, channels, dtype=torch.float64)
    index = torch.full((n, height, width), -1, dtype=torch.int64)
    index[removed] = torch.arange(count)
    pad = (1, 1, 1, 1)
    inside = F.pad(torch.ones(n, 1, height, width), pad).squeeze(1).bool()
    gone = F.pad(removed.unsqueeze(1).float(), pad).squeeze(1).bool()
    padded_index = F.pad(index.unsqueeze(1), pad, value=-1).squeeze(1)
    padded_values = F.pad(values, pad)
    diagonal = torch.zeros(n, height, width, dtype=torch.float64)
    rhs = torch.zeros(n, height, width, channels, dtype=torch.float64)
    rows, cols, weights = [torch.arange(count)], [torch.arange(count)], []
    for (dy, dx), weight in NEIGHBOUR_WEIGHTS:
        window = (slice(None), slice(1 + dy, 1 + dy + height), slice(1 + dx, 1 + dx + width))
        neighbour_inside = inside[window]
        neighbour_gone = gone[window]
        # float64 masks: weight * bool_tensor would round the weight to float32
        diagonal += weight * neighbour_inside.double()
        known = (neighbour_inside & ~neighbour_gone).unsqueeze(-1).double()
        rhs += weight * known * padded_values.permute(0, 2, 3, 1)[window]
        coupled = removed & neighbour_gone
        rows.append(index[coupled])
        cols.append(padded_index[window][coupled])
        weights.append(torch.full((rows[-1].numel(),), -weight, dtype=torch.float64))
    data = torch.cat([diagonal[removed], *weights])
    return _sparse_solve(torch.cat(rows), torch.cat(cols), data, rhs[removed], count)


def _sparse_solve(
    rows: torch.Tensor, cols: torch.Tensor, data: torch.Tensor, rhs: torch.Tensor, size: int
) -> torch.Tensor:
    from scipy.sparse import csc_matrix  # lazily: SciPy comes with Quantus, not with torch
    from scipy.sparse.linalg import splu

    matrix = csc_matrix((data.numpy(), (rows.numpy(), cols.numpy())), shape=(size, size))
    # splu + solve: ~7x faster than spsolve with several right-hand sides (measured, 50 images).
    solution = splu(matrix).solve(rhs.numpy())
    return torch.from_numpy(solution.reshape(size, -1)).to(torch.float64)


def _check_removed(removed: object, images: torch.Tensor) -> torch.Tensor:
    n, _, height, width = images.shape
    if not isinstance(removed, torch.Tensor) or removed.dtype != torch.bool:
        raise ValueError(f"removed must be a bool tensor of shape {(n, height, width)}")
    if tuple(removed.shape) != (n, height, width):
        raise ValueError(
            f"removed must have shape {(n, height, width)} to match images, "
            f"got {tuple(removed.shape)}"
        )
    return removed


def _value_range(images: torch.Tensor, value_range: float | None) -> float:
    if value_range is None:
        return 255.0 if images.dtype == torch.uint8 else 1.0
    if not (float(value_range) > 0.0):
        raise ValueError(f"value_range must be > 0, got {value_range!r}")
    return float(value_range)


def _check_levels(fractions: Sequence[float], pixels: int) -> list[float]:
    levels = sorted(check_fraction(f, "fractions") for f in fractions)
    if not levels or len(set(levels)) != len(levels):
        raise ValueError(f"fractions must be distinct and non-empty, got {list(fractions)!r}")
    if round(levels[-1] * pixels) >= pixels:
        raise ValueError(
            f"fractions must leave at least one pixel (round(f * H * W) < {pixels}), "
            f"got {levels[-1]!r}"
        )
    return levels
