"""Speed of the attribution methods (pytest-benchmark, group "methods").

RectGrad (registry ``rectgrad`` settings: q = 98, padding trick) against Captum's Guided Backprop on
the paper's CIFAR CNN, batch 128, float32; target: RectGrad <= 1.2x Guided Backprop (the ratio
itself is measured in turns in one process by benchmarks/rectgrad_ratio.py and checked against
its baseline by benchmarks/ratios.py). Then every registered method's ``attribute`` on a batch of
16.
"""

from __future__ import annotations

import os

import pytest
import torch

from bench.models import PaperCNN
from methods import available_methods, create_method

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _model() -> PaperCNN:
    torch.manual_seed(0)
    return PaperCNN().eval()


def _batch(n: int) -> torch.Tensor:
    return torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1


@pytest.mark.benchmark(group="methods")
@pytest.mark.parametrize("name", ["guided_backprop", "rectgrad"])
def test_rectgrad_vs_guided_backprop_batch128(benchmark, name: str) -> None:
    method = create_method(name, _model())
    x = _batch(128)
    target = torch.arange(128) % 10
    out = benchmark(method.attribute, x, target=target)
    assert out.shape == x.shape


@pytest.mark.benchmark(group="methods")
@pytest.mark.parametrize("name", available_methods())
def test_registered_method_batch16(benchmark, name: str) -> None:
    method = create_method(name, _model())
    x = _batch(16)
    out = benchmark.pedantic(method.attribute, args=(x,), kwargs={"target": 0},
                             rounds=3, iterations=1, warmup_rounds=1)
    assert out.shape == x.shape
