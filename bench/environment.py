"""Facts about the machine and software a run used (stored with every run, shown in reports)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from typing import Any

import torch

__all__ = ["environment_facts", "resolve_device"]

_PACKAGES = ("rectbench", "torch", "torchvision", "captum", "quantus", "numpy", "pandas")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when available; anything else must name an available device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"device: {exc}") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    return resolved


def environment_facts(device: torch.device) -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    facts: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "versions": versions,
    }
    if device.type == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(device)
    return facts
