"""Throughput of the ensemble trainer against the sequential ROAR/KAR retraining loop.

Trains K fresh paper CNNs on random ``uint8`` data: one after another through
``bench.training.make_train_and_evaluate`` (the path the runner uses today), and together through
``bench.ensemble.train_ensemble`` (each backend, optionally with bf16 autocast). Both timings
include moving the data to the device, training ``--epochs`` epochs and testing on ``--n-test``
images. Prints image-steps/s (training images processed per second, all K models together) and
the speed-up over the sequential loop. The sequential loop is timed on at most ``--seq-max``
models and scaled linearly to K (the models are independent; the column says so).

Paper scale (the default) takes about two minutes on one H100::

    python benchmarks/ensemble_throughput.py --device cuda
    python benchmarks/ensemble_throughput.py --device cpu --n-train 1000 --n-test 200 --k 1 4
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.ensemble import EnsembleMember, train_ensemble
from bench.training import TrainRecipe, make_train_and_evaluate


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(n: int, size: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return images, torch.randint(0, classes, (n,), generator=g)


def _sequential_seconds(args: argparse.Namespace, k: int, data: tuple) -> tuple[float, int]:
    train_x, train_y, test_x, test_y = data
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch)
    run = make_train_and_evaluate("paper_cnn", recipe, args.classes, args.image_size, args.device)
    timed = min(k, args.seq_max)
    _sync(args.device)
    start = time.perf_counter()
    for seed in range(timed):
        run(train_x, train_y, test_x, test_y, seed)
    _sync(args.device)
    return (time.perf_counter() - start) * k / timed, timed


def _ensemble_seconds(
    args: argparse.Namespace, k: int, data: tuple, backend: str, bf16: bool
) -> float:
    train_x, train_y, test_x, test_y = data
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch)
    members = [EnsembleMember(train_x, test_x, seed) for seed in range(k)]
    _sync(args.device)
    start = time.perf_counter()
    train_ensemble(
        "paper_cnn", args.classes, args.image_size, members, train_y, test_y, recipe,
        device=args.device, autocast_bf16=bf16, backend=backend,
    )  # fmt: skip
    _sync(args.device)
    return time.perf_counter() - start


def _warm_up(args: argparse.Namespace, data: tuple) -> None:
    """One small run of every variant, so that CUDA/cuDNN set-up is not timed."""
    small = argparse.Namespace(**{**vars(args), "seq_max": 1, "epochs": 1})
    train_x, train_y, test_x, test_y = data
    head = (train_x[: 4 * args.batch], train_y[: 4 * args.batch], test_x, test_y)
    _sequential_seconds(small, 1, head)
    for backend in args.backends:
        for bf16 in args.bf16_modes:
            for k in args.k:
                _ensemble_seconds(small, k, head, backend, bf16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-test", type=int, default=1_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seq-max", type=int, default=4, help="sequential models actually timed")
    parser.add_argument("--backends", nargs="+", default=["grouped", "vmap"])
    parser.add_argument("--bf16", choices=["off", "on", "both"], default="both")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    args.bf16_modes = {"off": [False], "on": [True], "both": [False, True]}[args.bf16]
    if args.threads:
        torch.set_num_threads(args.threads)
    train_x, train_y = _data(args.n_train, args.image_size, args.classes, 0)
    test_x, test_y = _data(args.n_test, args.image_size, args.classes, 1)
    data = (train_x, train_y, test_x, test_y)
    _warm_up(args, data)

    name = torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "cpu"
    print(
        f"device {args.device} ({name}), torch {torch.__version__}, threads "
        f"{torch.get_num_threads()}, n_train {args.n_train}, n_test {args.n_test}, "
        f"{args.image_size}x{args.image_size}, batch {args.batch}, epochs {args.epochs}"
    )
    print(f"{'K':>3} {'trainer':<16} {'seconds':>9} {'img-steps/s':>12} {'speed-up':>9}  note")
    images = args.n_train * args.epochs
    for k in args.k:
        seq, timed = _sequential_seconds(args, k, data)
        note = "" if timed == k else f"{timed} of {k} models timed, scaled"
        print(
            f"{k:>3} {'sequential':<16} {seq:>9.2f} {k * images / seq:>12.0f} {1.0:>9.2f}  {note}"
        )
        for backend in args.backends:
            for bf16 in args.bf16_modes:
                seconds = _ensemble_seconds(args, k, data, backend, bf16)
                label = f"{backend}{'+bf16' if bf16 else ''}"
                print(
                    f"{k:>3} {label:<16} {seconds:>9.2f} {k * images / seconds:>12.0f} "
                    f"{seq / seconds:>9.2f}"
                )


if __name__ == "__main__":
    main()
