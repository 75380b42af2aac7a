"""Time RectGrad against Captum's Guided Backprop in one process and print the ratio.

Both as registered (``create_method("rectgrad", model)``: q = 98 + padding trick;
``create_method("guided_backprop", model)``) on the paper CNN, 32x32, batch 128, float32, one
``attribute`` call each, taking turns. Target: ratio <= 1.2. Usage::

    python benchmarks/rectgrad_ratio.py [--repeats 9] [--batch 128] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Callable

import torch
from _timing import RatioResult, interleaved, print_ratio, ratio_result

from bench.models import PaperCNN
from methods import create_method

TARGET = 1.2


def measure(
    *, batch: int = 128, repeats: int = 9, threads: int = 2, device: str = "cpu"
) -> RatioResult:
    """RectGrad / Guided Backprop wall-time ratio of one ``attribute`` call, over ``repeats``."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    torch.manual_seed(0)
    model = PaperCNN().eval().to(dev)
    x = torch.rand(batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    x = x.to(dev)
    target = (torch.arange(batch) % 10).to(dev)
    methods = {name: create_method(name, model) for name in ("rectgrad", "guided_backprop")}

    def call(name: str) -> Callable[[], object]:
        def run() -> object:
            out = methods[name].attribute(x, target=target)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            return out

        return run

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Captum's per-call hook warnings
        seconds = interleaved({name: call(name) for name in methods}, repeats, warmup=2)
    settings = {"model": "paper_cnn", "batch": batch, "threads": threads, "device": str(dev),
                "repeats": repeats, "dtype": "float32"}
    return ratio_result("rectgrad/guided_backprop", seconds["rectgrad"],
                        seconds["guided_backprop"], TARGET, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    result = measure(batch=args.batch, repeats=args.repeats, threads=args.threads,
                     device=args.device)
    print_ratio(result, "rectgrad", "guided_backprop")


if __name__ == "__main__":
    main()
