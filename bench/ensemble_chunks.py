"""How many ensemble members fit on a CUDA device at once (see :mod:`bench.ensemble`)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["cuda_chunk_size", "activation_numel"]

#: Share of the free device memory an ensemble chunk may plan to use.
MEMORY_SHARE = 0.6


def cuda_chunk_size(
    template: nn.Module,
    train_shape: torch.Size,
    test_shape: torch.Size,
    batch_size: int,
    device: torch.device,
) -> int:
    """Members whose data, weights, Adam state and activations fit in 60 % of the free memory.

    Per member: its ``uint8`` train and test images, 4 float32 copies of the parameters (value,
    gradient, two Adam moments) and 3 float32 copies of one batch's activations (saved outputs,
    their gradients, temporaries). ``template`` is moved to the meta device. At least 1.

    Args:
        template: One member's model (any weights).
        train_shape, test_shape: (N, C, H, W) of one member's train and test images.
        batch_size: Training batch size.
        device: A CUDA device.
    """
    param_bytes = sum(p.numel() for p in template.parameters()) * 4
    activations = activation_numel(template, *train_shape[1:])
    per_member = (
        train_shape.numel()
        + test_shape.numel()
        + 4 * param_bytes
        + 3 * 4 * activations * batch_size
    )
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, int(MEMORY_SHARE * free) // per_member)


def activation_numel(template: nn.Module, channels: int, height: int, width: int) -> int:
    """Elements of the input and of all leaf-module outputs for one image, counted by a forward
    pass on the meta device (no memory, no arithmetic). Moves ``template`` to the meta device."""
    skeleton = template.to("meta")
    total = [channels * height * width]

    def count(_: nn.Module, __: object, output: object) -> None:
        if isinstance(output, torch.Tensor):
            total[0] += output.numel()

    leaves = [m for m in skeleton.modules() if not list(m.children())]
    handles = [m.register_forward_hook(count) for m in leaves]
    try:
        skeleton(torch.empty(1, channels, height, width, device="meta"))
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
