"""Content digests of tensors, used in cache keys (trained models, attribution maps)."""

from __future__ import annotations

import hashlib

import torch

__all__ = ["tensor_digest"]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 hex digest of the tensors' dtypes, shapes and bytes, in order."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        digest.update(memoryview(tensor.detach().cpu().contiguous().numpy()).cast("B"))
    return digest.hexdigest()
