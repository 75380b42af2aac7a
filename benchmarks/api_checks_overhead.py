"""What the input checks and the per-image noise cost, measured side by side in one process.

Paper CNN, float32, registry settings. Prints, per pair, the median time of each and the ratio:

* ``saliency``: the checked wrapper (one extra forward of one image to check the target) against
  Captum's ``Saliency`` called directly, batch 128.
* ``rectgrad``: ``RectGrad.attribute`` (checks, eval mode, the all-zero test) against its bare
  ``gradients`` pass times the input, batch 128.
* ``smoothgrad``: the per-image-noise SmoothGrad against Captum's ``NoiseTunnel(Saliency)`` with
  one shared noise stream (the old implementation), batch 32, 50 samples.
* ``noise``: generating SmoothGrad's per-image noise alone against ``torch.randn`` of that size.

Usage: ``python benchmarks/api_checks_overhead.py [--repeats 5] [--threads 2]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from captum.attr import NoiseTunnel, Saliency

from bench.models import PaperCNN
from methods import RectGrad, create_method
from methods.image_rng import image_keys, normal_samples


def _medians(new: Callable[[], object], old: Callable[[], object],
             repeats: int) -> tuple[float, float]:
    """Median seconds of each, the two alternating so that load changes hit both alike."""
    new(), old()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for fn, bucket in ((new, times[0]), (old, times[1])):
            start = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _pairs(model: PaperCNN) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    g = torch.Generator().manual_seed(0)
    x128 = torch.rand(128, 3, 32, 32, generator=g) * 2 - 1
    x32 = x128[:32]
    t128, t32 = torch.arange(128) % 10, torch.arange(32) % 10
    saliency, captum_saliency = create_method("saliency", model), Saliency(model)
    rectgrad = create_method("rectgrad", model)
    assert isinstance(rectgrad, RectGrad)
    smoothgrad, tunnel = create_method("smoothgrad", model), NoiseTunnel(Saliency(model))
    keys = image_keys((x32,), 0)
    return {
        "saliency": (lambda: saliency.attribute(x128, target=t128),
                     lambda: captum_saliency.attribute(x128, target=t128, abs=False)),
        "rectgrad": (lambda: rectgrad.attribute(x128, target=t128),
                     lambda: x128 * rectgrad.gradients((x128,), t128, None)[0]),
        "smoothgrad": (lambda: smoothgrad.attribute(x32, target=t32),
                       lambda: tunnel.attribute(x32, nt_type="smoothgrad", nt_samples=50,
                                                stdevs=0.2, target=t32, abs=False)),
        "noise": (lambda: normal_samples(x32, keys, range(50)),
                  lambda: torch.randn(32, 50, 3, 32, 32)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    torch.manual_seed(0)
    model = PaperCNN().eval()
    for name, (new, old) in _pairs(model).items():
        t_new, t_old = _medians(new, old, args.repeats)
        print(f"{name:11s} checked/new {t_new * 1e3:8.1f} ms   reference {t_old * 1e3:8.1f} ms   "
              f"ratio {t_new / t_old:.2f}")


if __name__ == "__main__":
    main()
