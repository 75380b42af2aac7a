"""Class sensitivity: does a map change when the model's decision changes? (RectGrad paper, Fig. 5b)

The paper shows maps of an image and of its FGSM adversarial image (which the model assigns to
another class) side by side: a class-sensitive method's map changes with the decision. Here that
comparison is a number per image: ``1 - Spearman`` rank correlation of the two maps.

Which two maps (``compare``):

* ``"target"`` (default): both maps explain the *adversarial* image, one for the original class,
  one for the new class. Only the explained class differs, so the score isolates class
  sensitivity: a method whose map ignores the class (an edge detector, Guided Backprop in the
  limit) scores exactly 0, whatever the perturbation does to the image.
* ``"image"``: the paper's pairing (its figure and the authors' released samples compare the map of
  the original image for its class with the map of the adversarial image for its new class). The
  image changes too, so a class-blind method scores above 0 (its map follows the perturbation),
  and a method that is merely unstable under a 1 % perturbation looks "class-sensitive".
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["fgsm", "spearman", "class_sensitivity"]

Attribute = Callable[[Tensor, Tensor], Tensor]


def _check_value_range(value_range: object) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be a pair (low, high), got {value_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"value_range must be finite with low < high, got {value_range!r}")
    return lo, hi


def _check_epsilon(epsilon: object) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)):
        raise ValueError(f"epsilon must be a number > 0, got {epsilon!r}")
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    return float(epsilon)


def _check_images(images: object) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a floating tensor of shape (N, C, H, W), got {shape}")
    if images.shape[0] == 0:
        raise ValueError("images is an empty batch (N = 0)")
    return images


def fgsm(
    model: nn.Module,
    images: Tensor,
    *,
    epsilon: float = 0.01,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> tuple[Tensor, Tensor, Tensor]:
    """One untargeted FGSM step away from the predicted class (Goodfellow et al., arXiv:1412.6572).

    ``x_adv = clamp(x + epsilon * (high - low) * sign(grad_x CE(model(x), argmax model(x))),
    low, high)``. The gradient is taken on a copy of ``images``; nothing is left on the model's
    parameters and the caller's tensor is untouched. The model is used in its current mode.

    Args:
        model: Classifier returning logits (N, K).
        images: Model input (N, C, H, W), floating, inside ``value_range``.
        epsilon: Step as a fraction of the pixel range. Default: 0.01 (the paper's 1 %).
        value_range: ``(low, high)`` of valid inputs. Default: (-1, 1), the paper's scaling, so
            the default step is 0.02.

    Returns:
        ``(adversarial (N, C, H, W), original_class (N,), adversarial_class (N,))``, classes as
        int64 argmax of the logits.
    """
    images = _check_images(images)
    epsilon = _check_epsilon(epsilon)
    lo, hi = _check_value_range(value_range)
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        original = logits.argmax(dim=1)
        loss = F.cross_entropy(logits, original, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    adversarial = (x.detach() + epsilon * (hi - lo) * grad.sign()).clamp(lo, hi)
    with torch.no_grad():
        new = model(adversarial).argmax(dim=1)
    return adversarial, original.detach(), new


def _average_ranks(values: Tensor) -> Tensor:
    """Row-wise 1-based ranks of (N, P) values, ties sharing the mean of their ranks."""
    ordered, _ = values.sort(dim=1)
    first = torch.searchsorted(ordered, values, side="left")
    last = torch.searchsorted(ordered, values, side="right")
    return (first + last + 1).to(values.dtype) / 2  # mean of ranks first+1 .. last


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Spearman rank correlation of each row pair of (N, P) tensors (average ranks for ties).

    Equals ``scipy.stats.spearmanr`` per row. A row with all values equal has no ranking: NaN
    (the caller decides whether to warn).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(f"a and b must be (N, P) of the same shape, got {a.shape} and {b.shape}")
    work = torch.float64
    ra = _average_ranks(a.to(work))
    rb = _average_ranks(b.to(work))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    denominator = (ra.square().sum(dim=1) * rb.square().sum(dim=1)).sqrt()
    value = (ra * rb).sum(dim=1) / denominator  # 0 / 0 -> NaN for a constant row
    return value.clamp(-1.0, 1.0).to(a.dtype)


def _channel_maps(attribute: Attribute, inputs: Tensor, target: Tensor) -> Tensor:
    attributions = attribute(inputs, target)
    if not isinstance(attributions, Tensor) or attributions.shape != inputs.shape:
        got = tuple(attributions.shape) if isinstance(attributions, Tensor) else attributions
        raise ValueError(f"attribute must return a tensor shaped like its inputs, got {got}")
    return attributions.detach().sum(dim=1).flatten(1)


def class_sensitivity(
    model: nn.Module,
    images: Tensor,
    attribute: Attribute,
    *,
    epsilon: float = 0.01,
    value_range: tuple[float, float] = (-1.0, 1.0),
    compare: Literal["target", "image"] = "target",
) -> Tensor:
    """Dissimilarity of the maps before and after an FGSM step flips the decision, per image.

    Higher is better: a map that explains the decision should change when the decision changes
    (paper Fig. 5b). Score = ``1 - spearman(m1, m2)`` in [0, 2] over the flattened channel-summed
    maps (signed; average ranks for ties), where ``x_adv, c_adv = fgsm(model, x)`` and ``c`` is the
    predicted class of ``x``:

    * ``compare="target"`` (default): ``m1 = map(x_adv, c)``, ``m2 = map(x_adv, c_adv)``. A
      class-blind method scores exactly 0 (see the module docstring for why this is the default).
    * ``compare="image"``: ``m1 = map(x, c)``, ``m2 = map(x_adv, c_adv)``, the paper's pairing.

    Undefined, hence NaN with one ``RuntimeWarning`` per call saying how many and why: images whose
    class the FGSM step did not change, and images where a map is constant (no ranking).

    Args:
        model: Classifier returning logits (N, K), used as it is (call ``eval()`` first).
        images: Model input (N, C, H, W), floating, inside ``value_range``.
        attribute: The method as ``(inputs (M, C, H, W), target int64 (M,)) -> attributions
            (M, C, H, W)``; called twice, on the images whose class changed only.
        epsilon: FGSM step as a fraction of the pixel range. Default: 0.01.
        value_range: ``(low, high)`` of valid inputs. Default: (-1, 1).
        compare: ``"target"`` or ``"image"``, see above.

    Returns:
        Tensor (N,) in ``images``' dtype, on ``images``' device.
    """
    if compare not in ("target", "image"):
        raise ValueError(f"compare must be 'target' or 'image', got {compare!r}")
    adversarial, original, new = fgsm(model, images, epsilon=epsilon, value_range=value_range)
    changed = new != original
    scores = torch.full((images.shape[0],), float("nan"), dtype=images.dtype, device=images.device)
    constant = 0
    if bool(changed.any()):
        x_adv = adversarial[changed]
        first_input = x_adv if compare == "target" else images.detach()[changed]
        first = _channel_maps(attribute, first_input, original[changed])
        second = _channel_maps(attribute, x_adv, new[changed])
        rho = spearman(first, second)
        constant = int(torch.isnan(rho).sum())
        scores[changed] = (1.0 - rho).to(scores.dtype)
    unchanged = int((~changed).sum())
    if unchanged or constant:
        warnings.warn(
            f"class_sensitivity: {unchanged + constant} of {scores.numel()} values are undefined "
            f"and set to NaN ({unchanged} images whose class the FGSM step (epsilon={epsilon}) "
            f"did not change, {constant} with a constant map)",
            RuntimeWarning,
            stacklevel=2,
        )
    return scores
