"""A content-keyed on-disk cache of attribution maps, shared by every metric of a run.

Maps are channel-summed attributions, float32 (N, H, W), one file per (model, method, split)
key. Files are checksummed and written atomically (:func:`bench.data.cache.save_atomic`): a killed
run never leaves a torn file, a failed write leaves no temporary file, and a file whose content no
longer matches its SHA-256 (a changed bit on disk) is warned about and recomputed, never used.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from bench.data.cache import load_cached, save_atomic

__all__ = ["MapCache"]


class MapCache:
    """Cache of ``(N, H, W)`` float32 map tensors under ``root``, keyed by hex strings."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def load(self, key: str) -> torch.Tensor | None:
        """The verified maps stored under ``key``, or None (missing, or damaged: with a warning)."""
        entry = load_cached(self.path(key))
        maps = entry.get("maps") if isinstance(entry, dict) else None
        return maps if isinstance(maps, torch.Tensor) else None

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The cached tensor for ``key``, or ``compute()`` stored under it first."""
        cached = self.load(key)
        if cached is not None:
            return cached
        value = compute().detach().to("cpu", torch.float32).contiguous()
        save_atomic({"maps": value}, self.path(key))
        return value
