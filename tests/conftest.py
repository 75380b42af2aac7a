"""Shared fixtures: small models and data built in memory, and access to the real data at hand.

Real-data tests use the ``shared_data`` fixture. Outside CI they skip with a reason when the data
is missing; with ``RECTBENCH_REQUIRE_DATA=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from bench.models import PaperCNN

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

_DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _require_data() -> bool:
    return os.environ.get("RECTBENCH_REQUIRE_DATA", "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding ``cifar10-jpeg.tar.gz`` and ``CIFAR10_mask.tar`` (../shared/data)."""
    root = Path(os.environ.get("RECTBENCH_SHARED_DATA", _DEFAULT_SHARED))
    needed = [root / "cifar10-jpeg.tar.gz", root / "CIFAR10_mask.tar"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        message = (
            f"real data not found: {', '.join(missing)} "
            "(set RECTBENCH_SHARED_DATA to the folder holding them)"
        )
        if _require_data():
            pytest.fail(message + " and RECTBENCH_REQUIRE_DATA=1 says it must be there")
        pytest.skip(message)
    return root


@pytest.fixture
def paper_cnn() -> PaperCNN:
    """The paper's CIFAR CNN with seeded Glorot weights, in eval mode, float32."""
    torch.manual_seed(0)
    return PaperCNN().eval()


@pytest.fixture
def cifar_like_batch() -> torch.Tensor:
    """A seeded batch of 4 images shaped like CIFAR-10, values in [-1, 1]: (4, 3, 32, 32)."""
    g = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
