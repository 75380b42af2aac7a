"""Forward passes of K same-architecture models at once, on stacked parameters.

Two backends compute the same function (K models, each on its own batch):

- ``"vmap"``: ``torch.func.functional_call`` under ``torch.func.vmap`` over the member axis. Works
  for any module without in-place buffer updates (no BatchNorm in training mode); PyTorch turns
  each batched convolution into a grouped one and each batched linear layer into a ``bmm``, but
  moves the member axis in and out of the channel axis around every layer.
- ``"grouped"``: a hand-written pass for :class:`bench.models.PaperCNN` (conv, ReLU, max-pool,
  flatten, linear layers in order) that keeps the K members side by side in the channel axis,
  (B, K * C, H, W) channels-last, from the first convolution to the flatten: each convolution is
  one ``groups=K`` convolution, each dense layer one ``baddbmm``.

Stacked parameters are a dict ``name -> (K, *shape)`` as :func:`torch.func.stack_module_state`
returns it; member k's slice ``[k]`` is the ``state_dict`` entry of model k.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from bench.models import PaperCNN

__all__ = ["BACKENDS", "EnsembleForward", "make_forward", "stack_models"]

BACKENDS: tuple[str, ...] = ("auto", "vmap", "grouped")

#: ``(params, images, training) -> logits``: images (K, B, C, H, W) float, logits (K, B, classes);
#: ``training`` selects train or eval behaviour of the layers (as ``module.train(training)``).
EnsembleForward = Callable[[dict[str, torch.Tensor], torch.Tensor, bool], torch.Tensor]


def stack_models(
    models: Sequence[nn.Module], device: torch.device, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Stacked parameters (leaf tensors with ``requires_grad``) and buffers of ``models``.

    Returns:
        ``(params, buffers)``: dicts ``name -> (K, *shape)`` on ``device``, floating tensors in
        ``dtype``. The models are left untouched.
    """
    params, buffers = torch.func.stack_module_state(list(models))
    params = {
        name: value.detach().to(device=device, dtype=dtype).requires_grad_()
        for name, value in params.items()
    }
    buffers = {
        name: value.to(device=device, dtype=dtype if value.is_floating_point() else value.dtype)
        for name, value in buffers.items()
    }
    return params, buffers


def make_forward(
    template: nn.Module, buffers: dict[str, torch.Tensor], backend: str
) -> tuple[EnsembleForward, str]:
    """The ensemble forward of ``template``'s architecture, and the backend it resolved to.

    Args:
        template: One member (its weights are not used; a copy on the meta device is kept).
        buffers: Stacked buffers from :func:`stack_models` (empty for ``PaperCNN``).
        backend: "vmap", "grouped" (``PaperCNN`` only) or "auto" (grouped where possible).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    groupable = _groupable_layers(template)
    if backend == "grouped" and groupable is None:
        raise ValueError(
            f"backend 'grouped' needs a bench.models.PaperCNN, got {type(template).__name__}"
        )
    if backend != "vmap" and groupable is not None:
        return _grouped_forward(groupable), "grouped"
    return _vmap_forward(template, buffers), "vmap"


def _vmap_forward(template: nn.Module, buffers: dict[str, torch.Tensor]) -> EnsembleForward:
    skeleton = copy.deepcopy(template).to("meta")

    def one(params: dict[str, torch.Tensor], bufs: dict[str, torch.Tensor], x: torch.Tensor):
        return torch.func.functional_call(skeleton, (params, bufs), (x,))

    # randomness="different": random layers (dropout) draw independently per member. They do not
    # reproduce the sequential path's draws; PaperCNN has none.
    batched = torch.func.vmap(one, in_dims=(0, 0, 0), randomness="different")

    def forward(
        params: dict[str, torch.Tensor], images: torch.Tensor, training: bool
    ) -> torch.Tensor:
        skeleton.train(training)
        return batched(params, buffers, images)

    return forward


def _groupable_layers(model: nn.Module) -> list[tuple[str, nn.Module]] | None:
    """``(parameter prefix, layer)`` in forward order when ``model`` is a plain PaperCNN."""
    if type(model) is not PaperCNN:
        return None
    layers = [(f"features.{i}", m) for i, m in enumerate(model.features)]
    layers += [(f"classifier.{i}", m) for i, m in enumerate(model.classifier)]
    allowed = (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Linear)
    if not all(type(m) in allowed for _, m in layers):
        return None
    return layers


def _grouped_forward(layers: list[tuple[str, nn.Module]]) -> EnsembleForward:
    # PaperCNN's layers behave alike in train and eval mode, so ``training`` is not read.
    def forward(
        params: dict[str, torch.Tensor], images: torch.Tensor, training: bool
    ) -> torch.Tensor:
        k, b, c, h, w = images.shape
        # (K, B, C, H, W) -> (B, K * C, H, W), member k's channels at [k * C, (k + 1) * C).
        x = images.permute(1, 0, 2, 3, 4).reshape(b, k * c, h, w)
        x = x.contiguous(memory_format=torch.channels_last)
        for prefix, layer in layers:
            x = _grouped_layer(layer, prefix, params, x, k)
        return x

    return forward


def _grouped_layer(
    layer: nn.Module, prefix: str, params: dict[str, torch.Tensor], x: torch.Tensor, k: int
) -> torch.Tensor:
    if isinstance(layer, nn.Conv2d):
        weight = params[f"{prefix}.weight"]
        bias = params.get(f"{prefix}.bias")
        return F.conv2d(
            x,
            weight.reshape(-1, *weight.shape[2:]).contiguous(memory_format=torch.channels_last),
            None if bias is None else bias.reshape(-1),
            layer.stride,
            layer.padding,
            layer.dilation,
            groups=k,
        )
    if isinstance(layer, nn.ReLU):
        return F.relu(x)
    if isinstance(layer, nn.MaxPool2d):
        return F.max_pool2d(
            x, layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.ceil_mode
        )
    if isinstance(layer, nn.Flatten):
        # (B, K * C, H, W) -> (K, B, C * H * W), each member flattened in its own (C, H, W) order.
        b = x.shape[0]
        return x.contiguous().reshape(b, k, -1).transpose(0, 1)
    if isinstance(layer, nn.Linear):
        weight = params[f"{prefix}.weight"]  # (K, out, in)
        bias = params.get(f"{prefix}.bias")
        if bias is None:
            return torch.bmm(x, weight.transpose(1, 2))
        return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))
    raise ValueError(f"the grouped backend cannot run layer {prefix} ({type(layer).__name__})")
