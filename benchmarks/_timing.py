"""Interleaved timing for the ratio benchmarks: the contenders take turns in one process.

Machine load (other jobs on a shared machine) then slows both alike, so the ratio of each pair of
neighbouring runs is far steadier than either absolute time. Results are summarised as median and
range (min-max) over the repeats.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

__all__ = ["Spread", "RatioResult", "interleaved", "ratio_result", "load_average", "print_ratio"]


@dataclass(frozen=True)
class Spread:
    """Median and range of repeated measurements (same unit as the measurements)."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        return cls(statistics.median(values), min(values), max(values))

    def __str__(self) -> str:
        return f"{self.median:.2f} [{self.low:.2f}-{self.high:.2f}]"


@dataclass(frozen=True)
class RatioResult:
    """``numerator / denominator`` timed in pairs.

    Attributes:
        name: What the ratio compares, e.g. "rectgrad/guided_backprop".
        ratio: Spread of the per-pair ratios (lower is better).
        numerator_ms: Spread of the numerator's wall times, in milliseconds.
        denominator_ms: Spread of the denominator's wall times, in milliseconds.
        target: The ratio the project aims to stay at or below.
        settings: How it was measured (batch, threads, device, repeats, ...).
    """

    name: str
    ratio: Spread
    numerator_ms: Spread
    denominator_ms: Spread
    target: float
    settings: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def interleaved(
    contenders: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Wall seconds of each contender, called in turn ``repeats`` times after ``warmup`` rounds."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def ratio_result(
    name: str,
    numerator: list[float],
    denominator: list[float],
    target: float,
    settings: dict[str, object],
) -> RatioResult:
    """Summarise paired wall times (seconds) as a :class:`RatioResult`."""
    ratios = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return RatioResult(
        name=name,
        ratio=Spread.of(ratios),
        numerator_ms=Spread.of([t * 1e3 for t in numerator]),
        denominator_ms=Spread.of([t * 1e3 for t in denominator]),
        target=target,
        settings=settings,
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (as ``uptime`` prints them), or "n/a"."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def print_ratio(result: RatioResult, numerator: str, denominator: str, unit: str = "") -> None:
    """Print one benchmark's result: the load, its settings, both wall times (median [min-max])
    and the ratio against its target. ``unit`` follows "ms", e.g. " per epoch"."""
    width = max(len(numerator), len(denominator)) + 2
    print(f"load average: {load_average()}   {result.settings}")
    print(f"{denominator:{width}s}{result.denominator_ms} ms{unit}  (median [min-max])")
    print(f"{numerator:{width}s}{result.numerator_ms} ms{unit}")
    print(f"ratio {result.name} = {result.ratio}  (target <= {result.target})")
