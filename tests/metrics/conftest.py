"""Fixtures for the control metrics: the shipped small PaperCNN and seeded synthetic test images."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from bench.data import make_synthetic, to_model_input

_ASSETS = Path(__file__).resolve().parents[2] / "bench" / "assets"


@dataclass(frozen=True)
class ShapesCase:
    """The shipped PaperCNN (4 shape classes, 16x16, float32, eval) and 64 seeded test images."""

    model: torch.nn.Module
    images: torch.Tensor  # (64, 3, 16, 16) in [-1, 1]
    masks: torch.Tensor  # (64, 16, 16) bool, True on the object
    predictions: torch.Tensor  # (64,) int64


def _load_asset_module():
    spec = importlib.util.spec_from_file_location(
        "make_paper_cnn_shapes16", _ASSETS / "make_paper_cnn_shapes16.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def shapes16_case() -> ShapesCase:
    model, _meta = _load_asset_module().load()
    _, test = make_synthetic(0, 64, seed=1, image_size=16)
    images = to_model_input(test.images)
    with torch.no_grad():
        predictions = model(images).argmax(dim=1)
    return ShapesCase(model, images, test.masks, predictions)
