"""Time ``bench.training.train_tensors`` against a plain channels-last training loop.

Both train the paper CNN (32x32, 10 classes) for one epoch on the same 3,000 seeded ``uint8``
images, batch 100, Adam (lr 1e-3), cross-entropy, taking turns in one process; each run starts
from the same fresh model. The plain loop is the machine's rate: model and images channels-last,
images converted to float once up front, nothing else. Target: ratio <= 1.05. Usage::

    python benchmarks/training_ratio.py [--repeats 5] [--threads 2] [--device cpu] [--bf16]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _timing import RatioResult, interleaved, print_ratio, ratio_result
from torch import nn

from bench.data import to_model_input
from bench.models import PaperCNN
from bench.training import TrainRecipe, train_tensors

TARGET = 1.05
IMAGES, BATCH = 3000, 100


def plain_loop(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, seed: int, bf16: bool
) -> None:
    """One epoch of the textbook loop on float channels-last ``x`` already on the device."""
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed)).to(x.device)
    for index in order.split(batch):
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def measure(
    *, repeats: int = 5, threads: int = 2, device: str = "cpu", bf16: bool = False
) -> RatioResult:
    """train_tensors / plain loop wall-time ratio of one epoch, over ``repeats``."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (IMAGES, 3, 32, 32), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 10, (IMAGES,), generator=g)
    torch.manual_seed(0)
    initial = PaperCNN()
    recipe = TrainRecipe(epochs=1, batch_size=BATCH)
    x = to_model_input(images).to(dev).contiguous(memory_format=torch.channels_last)
    y = labels.to(dev)

    def synced(fn: Callable[[], object]) -> Callable[[], object]:
        def run() -> object:
            out = fn()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            return out

        return run

    options = {"autocast_bf16": True} if bf16 else {}

    def ours() -> object:
        return train_tensors(copy.deepcopy(initial), images, labels, recipe, 0, device=dev,
                             progress=False, **options)

    def plain() -> object:
        model = copy.deepcopy(initial).to(dev, memory_format=torch.channels_last)
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = dev.type == "cuda"
        try:
            plain_loop(model, x, y, BATCH, seed=0, bf16=bf16)
        finally:
            torch.backends.cudnn.benchmark = previous
        return model

    seconds = interleaved({"train_tensors": synced(ours), "plain": synced(plain)}, repeats)
    settings = {"model": "paper_cnn", "images": IMAGES, "batch": BATCH, "epochs": 1,
                "threads": threads, "device": str(dev), "repeats": repeats, "bf16": bf16}
    return ratio_result("train_tensors/plain_loop", seconds["train_tensors"], seconds["plain"],
                        TARGET, settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast in both loops")
    args = parser.parse_args()
    result = measure(repeats=args.repeats, threads=args.threads, device=args.device,
                     bf16=args.bf16)
    print_ratio(result, "train_tensors", "plain loop", " per epoch")


if __name__ == "__main__":
    main()
