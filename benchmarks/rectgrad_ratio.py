"""Time RectGrad against Captum's Guided Backprop in one process and print the ratio.

Paper CNN, batch 128, float32, registry settings (``rectgrad``: q = 98 + padding trick;
``guided_backprop``). Target: ratio <= 1.5. Usage::

    python benchmarks/rectgrad_ratio.py [--repeats 7] [--batch 128] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from bench.models import PaperCNN
from methods import create_method


def _median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = PaperCNN().eval().to(device)
    x = (torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    target = (torch.arange(args.batch) % 10).to(device)
    methods = {name: create_method(name, model) for name in ("guided_backprop", "rectgrad")}

    def run(name: str) -> Callable[[], object]:
        def call() -> object:
            out = methods[name].attribute(x, target=target)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            return out

        return call

    # interleave the two so that machine load affects both alike
    gbp, rg = [], []
    for _ in range(3):
        gbp.append(_median_seconds(run("guided_backprop"), args.repeats))
        rg.append(_median_seconds(run("rectgrad"), args.repeats))
    t_gbp, t_rg = statistics.median(gbp), statistics.median(rg)
    print(f"device={device} batch={args.batch} threads={args.threads} repeats={args.repeats}x3")
    print(f"guided_backprop {t_gbp * 1e3:8.1f} ms")
    print(f"rectgrad        {t_rg * 1e3:8.1f} ms")
    print(f"ratio rectgrad/guided_backprop = {t_rg / t_gbp:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
