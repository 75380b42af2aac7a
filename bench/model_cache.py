"""Trained models on disk, keyed by what they were trained from (:class:`ModelCache`)."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.config import TrainRecipe
from bench.data.cache import load_cached, save_atomic

__all__ = ["ModelCache", "TRAINING_VERSION"]

#: Bump when training code changes results, so that cached models are retrained.
#: 2: channels-last model and batches, fused Adam (float results differ slightly from 1).
TRAINING_VERSION = 2

class ModelCache:
    """Trained models on disk, keyed by (data fingerprint, model name, recipe, seed).

    Files: ``<root>/<key>.pt`` holding ``{"state_dict": ..., "info": {...}}`` with its SHA-256
    checksum, written atomically (:func:`bench.data.cache.save_atomic`), so a killed run never
    leaves a half-written model and a model whose file changed on disk is retrained, not used.

    Args:
        root: Folder of the cache (created when first written).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser()

    def key(
        self,
        data_fingerprint: str,
        model_name: str,
        recipe: TrainRecipe,
        seed: int,
        *,
        extra: dict[str, Any] | None = None,
    ) -> str:
        """SHA-256 hex of a canonical JSON of the inputs (and ``extra``: e.g. class count, image
        size), plus :data:`TRAINING_VERSION` and the torch version."""
        payload = {
            "data": data_fingerprint,
            "model": model_name,
            "recipe": recipe.to_dict(),
            "seed": int(seed),
            "extra": extra or {},
            "training_version": TRAINING_VERSION,
            "torch": torch.__version__.split("+")[0],
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def path(self, key: str) -> Path:
        """The file of ``key``."""
        if not key or any(c not in "0123456789abcdef" for c in key):
            raise ValueError(f"key must be a hex digest from ModelCache.key, got {key!r}")
        return self.root / f"{key}.pt"

    def load(self, key: str, model: nn.Module) -> dict[str, Any] | None:
        """Load the weights stored under ``key`` into ``model`` and return the stored info
        (losses, accuracy, ...), or None when there is no usable entry (an unreadable, damaged
        (checksum mismatch) or mismatching one gives a warning and is treated as missing)."""
        entry = load_cached(self.path(key))
        if entry is None:
            return None
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("info", {}), dict):
                raise KeyError("not a model entry")
            model.load_state_dict(entry["state_dict"])
        except (KeyError, RuntimeError, TypeError) as exc:
            warnings.warn(
                f"ignoring cached model {self.path(key)} ({exc}); retraining", stacklevel=2
            )
            return None
        return dict(entry.get("info", {}))

    def save(self, key: str, model: nn.Module, info: dict[str, Any]) -> Path:
        """Store ``model``'s weights (on the CPU) and ``info`` (JSON-like values) under ``key``."""
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        path = self.path(key)
        save_atomic({"state_dict": state, "info": dict(info)}, path)
        return path
