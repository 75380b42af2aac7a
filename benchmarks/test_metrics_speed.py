"""Speed of the per-image paper metrics on 10,000 maps of 32x32, and against Quantus.

Run: ``.venv/bin/python -m pytest benchmarks/test_metrics_speed.py --benchmark-enable``.
Target: background mass + total variation together at least 5x faster than Quantus'
RelevanceMassAccuracy alone on the same maps and masks (asserted when benchmarks are enabled).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import MetricInputs, available_metrics, background_mass, metric_spec, total_variation

N, SIDE = 10_000, 32
_medians: dict[str, float] = {}


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    maps = torch.randn(N, SIDE, SIDE, generator=g)
    foreground = torch.rand(N, SIDE, SIDE, generator=g) > 0.5
    return maps, foreground


def _record(benchmark, key: str) -> None:  # noqa: ANN001
    if benchmark.enabled and benchmark.stats is not None:
        _medians[key] = benchmark.stats.stats.median


# The metrics computed from maps and masks alone (ROAD and class sensitivity run the model).
MAP_METRICS = [n for n in available_metrics("per_image")
               if "." not in n and set(metric_spec(n).requires) <= {"maps", "foreground"}]


@pytest.mark.benchmark(group="metrics")
@pytest.mark.parametrize("name", MAP_METRICS)
def test_paper_metric_speed(benchmark, name: str, data: tuple) -> None:  # noqa: ANN001
    maps, foreground = data
    inputs = MetricInputs(maps, None, None, None, None, foreground=foreground)
    values = benchmark(metric_spec(name).compute, inputs)
    assert values.shape == (N,)


@pytest.mark.benchmark(group="background-vs-quantus")
def test_background_mass_and_total_variation(benchmark, data: tuple) -> None:  # noqa: ANN001
    maps, foreground = data

    def both() -> tuple[torch.Tensor, torch.Tensor]:
        return background_mass(maps, foreground, normalize=True), total_variation(maps)

    fraction, _ = benchmark(both)
    _record(benchmark, "ours")
    assert fraction.shape == (N,)


@pytest.mark.benchmark(group="background-vs-quantus")
def test_quantus_relevance_mass_accuracy(benchmark, data: tuple) -> None:  # noqa: ANN001
    quantus = pytest.importorskip("quantus")
    maps, foreground = data
    x = np.zeros((N, 3, SIDE, SIDE), dtype=np.float32)
    y = np.zeros(N, dtype=np.int64)
    a, s = maps[:, None].numpy(), foreground[:, None].numpy()
    metric = quantus.RelevanceMassAccuracy(abs=True, disable_warnings=True)

    def run() -> list[float]:
        return metric(model=None, x_batch=x, y_batch=y, a_batch=a, s_batch=s, batch_size=N)

    scores = benchmark.pedantic(run, rounds=3, iterations=1)
    _record(benchmark, "quantus")
    assert len(scores) == N


def test_speedup_over_quantus() -> None:
    if set(_medians) != {"ours", "quantus"}:
        pytest.skip("run with --benchmark-enable to measure the speed-up")
    speedup = _medians["quantus"] / _medians["ours"]
    print(f"background mass + total variation vs Quantus RMA on {N} maps: {speedup:.1f}x")
    assert speedup >= 5.0
