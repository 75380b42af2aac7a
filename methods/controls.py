"""Control "methods": maps that carry no information about the model beyond what they wrap.

A benchmark table needs controls so that a reader can see when a metric rewards the wrong thing:

* :class:`SobelAttribution` — an edge detector, blind to the model and to the class. A metric on
  which it scores like a real attribution method measures image structure, not the model
  (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018, arXiv:1810.03292).
* :class:`Blurred` — any method's attributions blurred by a Gaussian. Post-processing cannot add
  information about the model (data-processing inequality), so a metric that prefers the blurred
  map rewards smoothness (Song, Cha, Seo, arXiv:2304.13836; PROTOCOL.md "Blurriness bias").

Both follow the attribution convention of :mod:`methods.wrappers`:
``attribute(inputs, target=None, additional_forward_args=None)``, a tensor or tuple in, the same
structure, shapes, dtype and device out; the caller's tensors are not modified.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from captum._utils.common import _format_output, _format_tensor_into_tuples, _is_tuple
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from torch import Tensor, nn

from methods.protocol import AttributionMethod
from methods.wrappers import ModelBlindAttribution

__all__ = ["SobelAttribution", "Blurred", "blurred_factory", "sobel_magnitude", "gaussian_blur"]


def _check_image_tensor(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a floating tensor of shape (N, C, H, W), got {shape}")
    return x


def sobel_magnitude(images: Tensor) -> Tensor:
    """Per-channel Sobel gradient magnitude ``sqrt(Gx^2 + Gy^2)``, shaped like ``images``.

    ``Gx`` correlates each channel with ``[[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]`` (``Gy`` with its
    transpose), unnormalised, after *replicate* padding by one pixel: the image border is then not
    an edge (zero padding would mark a border of height ``|pixel value|`` on every image whose
    background is not 0, and inputs in [-1, 1] rarely have a zero background).

    Args:
        images: Floating tensor (N, C, H, W).

    Returns:
        Non-negative tensor (N, C, H, W), same dtype and device; units: pixel units x 4 (a unit
        step edge gives 4 on both sides of the step).
    """
    images = _check_image_tensor(images, "images")
    n, c, h, w = images.shape
    if images.numel() == 0:
        return torch.zeros_like(images)
    p = F.pad(images.detach().reshape(n * c, 1, h, w), (1, 1, 1, 1), mode="replicate")[:, 0]
    # Differences first, then the [1, 2, 1] smoothing, as shifted slices rather than a conv: a flat
    # region gives exactly 0, and the arithmetic does not depend on the conv backend.
    dx = p[:, :, 2:] - p[:, :, :-2]  # (N*C, H + 2, W)
    dy = p[:, 2:, :] - p[:, :-2, :]  # (N*C, H, W + 2)
    gx = dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:]
    gy = dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]
    return torch.sqrt(gx * gx + gy * gy).reshape(n, c, h, w)


class SobelAttribution(ModelBlindAttribution):
    """Edge-detector control: the per-channel Sobel gradient magnitude of the input image.

    Model- and class-independent by construction: no target is needed, and a given one is only
    checked against the model (:class:`methods.wrappers.ModelBlindAttribution`). The map (channel sum, ``methods.to_map``) is
    the sum over channels of the per-channel magnitudes. See :func:`sobel_magnitude` for the
    kernels and the (replicate) padding.

    Args:
        model: The classifier a given target is checked against; None skips that check.
        allow_nonfinite: Keyword-only. Accept NaN/inf inputs with a ``RuntimeWarning``.

    Example::

        >>> x = torch.tensor([0.0, 0.0, 1.0, 1.0]).expand(1, 1, 4, 4)
        >>> SobelAttribution().attribute(x)[0, 0, 0].tolist()
        [0.0, 4.0, 4.0, 0.0]
    """

    def values(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """Sobel magnitudes (N, C, H, W) >= 0 for each input tensor."""
        return tuple(sobel_magnitude(x) for x in inputs)


def _reflect(index: Tensor, size: int) -> Tensor:
    """Indices reflected into [0, size) about the edge pixels (numpy/torch "reflect": the edge
    is not repeated), any number of times, so kernels wider than the image work."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    folded = index.remainder(period)
    return torch.where(folded >= size, period - folded, folded)


def _blur_matrix(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """(size, size) matrix B with ``(B @ v)[i] = sum_k g[k] v[reflect(i + k)]``, |k| <= ceil(3s)."""
    radius = math.ceil(3.0 * sigma)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    weights = weights / weights.sum()
    rows = torch.arange(size).unsqueeze(1).expand(size, offsets.numel())
    cols = _reflect(rows + offsets.long().unsqueeze(0), size)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.index_put_((rows, cols), weights.expand(size, -1), accumulate=True)
    return matrix.to(dtype=dtype, device=device)


def gaussian_blur(values: Tensor, sigma: float) -> Tensor:
    """Blur the last two dimensions of ``values`` with a Gaussian of std ``sigma`` pixels.

    Separable: one 1-D kernel ``exp(-k^2 / (2 sigma^2))`` for ``|k| <= ceil(3 sigma)``, normalised
    to sum 1, applied along H then W with reflect padding (the edge pixel is not repeated; a kernel
    wider than the image reflects again). Written as two small matrix products, ``B_h @ v @ B_w^T``,
    vectorised over all leading dimensions. Every output is a weighted mean (weights sum to 1), so
    a constant stays constant; the total mass is preserved for values more than ``ceil(3 sigma)``
    pixels from every border (nearer ones lose or gain mass through the reflection).

    Args:
        values: Floating tensor (..., H, W).
        sigma: Standard deviation in pixels, >= 0; 0 returns ``values`` itself.

    Returns:
        The blurred tensor, same shape, dtype and device.
    """
    if not isinstance(values, Tensor) or not values.is_floating_point() or values.dim() < 2:
        raise ValueError("values must be a floating tensor with at least 2 dimensions (..., H, W)")
    if sigma == 0:
        return values
    h, w = values.shape[-2:]
    if values.numel() == 0:
        return values.clone()
    rows = _blur_matrix(h, sigma, values.dtype, values.device)
    cols = _blur_matrix(w, sigma, values.dtype, values.device)
    return rows @ values @ cols.T


def _check_sigma(sigma: object) -> float:
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    value = float(sigma)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return value


class Blurred:
    """Any attribution method, its output blurred per channel by a Gaussian (a smoothness control).

    ``attribute`` calls the wrapped method with the same arguments and blurs each returned tensor
    over its last two dimensions (H, W), each channel on its own; see :func:`gaussian_blur` for the
    kernel (radius ``ceil(3 sigma)``, reflect padding). ``sigma=0`` returns the wrapped method's
    output unchanged (the same tensors). The blur is linear, so the channel sum of the blurred
    attributions is the blurred map.

    Args:
        method: An object with ``attribute(inputs, target=None, additional_forward_args=None)``.
        sigma: Gaussian standard deviation in pixels, >= 0. Default: 1.0.

    Example::

        >>> blurred = Blurred(SobelAttribution(), sigma=1.0)
        >>> blurred.attribute(images).shape == images.shape
        True
    """

    def __init__(self, method: AttributionMethod, sigma: float = 1.0) -> None:
        if not callable(getattr(method, "attribute", None)):
            raise ValueError(
                f"method must have an attribute(inputs, target, ...) method, got {type(method)!r}"
            )
        self.method = method
        self.sigma = _check_sigma(sigma)

    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
    ) -> TensorOrTupleOfTensorsGeneric:
        """The wrapped method's attributions, blurred over (H, W); same structure and shapes."""
        attributions = self.method.attribute(
            inputs, target=target, additional_forward_args=additional_forward_args
        )
        if self.sigma == 0:
            return attributions
        is_tuple = _is_tuple(attributions)
        out = tuple(
            gaussian_blur(a, self.sigma) for a in _format_tensor_into_tuples(attributions)
        )
        return _format_output(is_tuple, out)


def blurred_factory(
    factory: Callable[..., AttributionMethod], sigma: float = 1.0
) -> Callable[..., Blurred]:
    """A registry factory for "method + blur": ``factory(model, sigma=..., **settings)``.

    Wraps a method factory (``MethodSpec.factory``) so that the blurred variant of any registered
    method is ``MethodSpec(f"{name}+blur", blurred_factory(spec.factory),
    {**spec.defaults, "sigma": 1.0}, ...)``.

    Args:
        factory: ``factory(model, **settings) -> attribution object``.
        sigma: The default blur when the caller passes none.
    """
    default_sigma = _check_sigma(sigma)

    def create(model: nn.Module, sigma: float = default_sigma, **settings: Any) -> Blurred:
        return Blurred(factory(model, **settings), sigma=sigma)

    return create
