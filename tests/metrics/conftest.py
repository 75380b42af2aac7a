"""Fixtures for the control metrics: the pytest plugin's shipped case (a small trained PaperCNN and
its fixed images), so that no test trains a model on the spot."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from bench.data import to_model_input
from bench.models import PaperCNN
from bench.pytest_plugin import CASE_IMAGE_SIZE, CASE_NUM_CLASSES, load_case_assets


@dataclass(frozen=True)
class ShapesCase:
    """The shipped PaperCNN (4 shape classes, 16x16, float32, eval) and 64 of its test images."""

    model: torch.nn.Module
    images: torch.Tensor  # (64, 3, 16, 16) in [-1, 1]
    masks: torch.Tensor  # (64, 16, 16) bool, True on the object
    predictions: torch.Tensor  # (64,) int64


@pytest.fixture(scope="session")
def shapes16_case() -> ShapesCase:
    state, data, _ = load_case_assets()
    model = PaperCNN(num_classes=CASE_NUM_CLASSES, image_size=CASE_IMAGE_SIZE)
    model.load_state_dict(state)
    model.eval()
    return ShapesCase(model, to_model_input(data["images"][:64]), data["masks"][:64],
                      data["targets"][:64])
