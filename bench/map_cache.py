"""A content-keyed on-disk cache of attribution maps, shared by every metric of a run.

Maps are channel-summed attributions, float32 (N, H, W), one file per (model, method, split)
key. Files are written to a temporary name and renamed, so a killed run never leaves a torn file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

__all__ = ["MapCache"]


class MapCache:
    """Cache of ``(N, H, W)`` float32 map tensors under ``root``, keyed by hex strings."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The cached tensor for ``key``, or ``compute()`` stored under it first."""
        path = self.path(key)
        if path.is_file():
            try:
                return torch.load(path, map_location="cpu", weights_only=True)
            except Exception:  # a file from an older, interrupted writer: recompute it
                path.unlink(missing_ok=True)
        value = compute().detach().to("cpu", torch.float32).contiguous()
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(value, tmp)
        os.replace(tmp, path)
        return value
