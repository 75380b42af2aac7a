"""ROAR/KAR on a GPU: sequential cells vs the ensemble engine, and the paper preset's projected time.

Times the runner's real retraining path (:func:`metrics.roar_kar.roar_kar`: occlusion of every cell
on the device, then training) on random ``uint8`` data of the paper's size (50,000 train and
10,000 test images of 32x32, random ranking maps), for one epoch:

- sequential: one cell at a time (:func:`bench.cells.make_cell_trainer`, the CPU engine);
- ensemble: groups of K cells as one vectorised ensemble
  (:func:`bench.ensemble.make_ensemble_train_and_evaluate`), float32 and bf16 autocast.

It prints image-steps/s (training images processed per second, all cells together) and projects
the paper preset's wall time from them: 270 ROAR/KAR cells (9 methods x 2 modes x 5 fractions x
3 seeds) and 45 leakage classifiers of 20 epochs on 50,000 images, the clean and patch models
(sequential), and the maps of every method (attribution rates measured with
:mod:`bench.throughput`; needs the ``methods`` package, i.e. captum). Target: <= 20 minutes on one
H100. A few minutes on an H100::

    python benchmarks/gpu_roar.py --device cuda
    python benchmarks/gpu_roar.py --device cpu --n-train 600 --n-test 200 --k 2 4   # smoke
"""

from __future__ import annotations

import argparse
import time

import torch

from bench.cells import make_cell_trainer
from bench.ensemble import make_ensemble_train_and_evaluate
from bench.training import TrainRecipe
from metrics import roar_kar
from metrics.roar_kar import occlude_cell

FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
PAPER = {"methods": 9, "modes": 2, "fractions": 5, "seeds": 3, "epochs": 20, "n_train": 50_000,
         "n_test": 10_000, "model_epochs": 20, "leakage_seeds": 1}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _data(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shape = (3, args.image_size, args.image_size)
    return {
        "train_x": torch.randint(0, 256, (args.n_train, *shape), generator=g, dtype=torch.uint8),
        "train_y": torch.randint(0, 10, (args.n_train,), generator=g),
        "test_x": torch.randint(0, 256, (args.n_test, *shape), generator=g, dtype=torch.uint8),
        "test_y": torch.randint(0, 10, (args.n_test,), generator=g),
        "train_maps": torch.randn(args.n_train, *shape[1:], generator=g),
        "test_maps": torch.randn(args.n_test, *shape[1:], generator=g),
    }


def _grid(k: int) -> tuple[tuple[float, ...], tuple[int, ...], tuple[str, ...]]:
    """A ROAR/KAR grid of at least k cells (fractions x seeds x modes)."""
    modes = ("roar", "kar") if k > 1 else ("roar",)
    seeds = tuple(range(max(1, -(-k // (len(FRACTIONS) * len(modes))))))
    fractions = FRACTIONS if k >= len(FRACTIONS) else FRACTIONS[: max(2, k)]
    return fractions, seeds, modes


def _time_cells(args: argparse.Namespace, data: dict, k: int, engine: str, bf16: bool) -> tuple[float, int]:
    """(seconds, cells) of roar_kar over a grid of about k cells with the given engine."""
    recipe = TrainRecipe(epochs=args.epochs, batch_size=args.batch)
    size = args.image_size
    fractions, seeds, modes = _grid(k)
    if engine == "sequential":
        fractions, seeds, modes = FRACTIONS[:2], (0,), ("roar",)
    single = batch = None
    if engine == "sequential":
        single = make_cell_trainer("paper_cnn", recipe, 10, size, args.device)
    else:
        batch = make_ensemble_train_and_evaluate("paper_cnn", recipe, 10, size, args.device,
                                                 autocast_bf16=bf16, per_image=True)
    _sync(args.device)
    start = time.perf_counter()
    result = roar_kar(single, data["train_x"], data["train_y"], data["test_x"], data["test_y"],
                      data["train_maps"], data["test_maps"], [128, 128, 128], fractions=fractions,
                      seeds=seeds, modes=modes, batch_train_and_evaluate=batch, group_size=0,
                      device=args.device)
    _sync(args.device)
    return time.perf_counter() - start, len(result.cells)


def _occlusion_seconds(args: argparse.Namespace, data: dict) -> float:
    """Seconds to occlude one cell's train and test images on the device (tie-breaks drawn on the
    CPU), which every cell pays once, whatever its number of epochs."""
    placed = {k: v.to(args.device) for k, v in data.items()}
    times = []
    for seed in range(3):
        _sync(args.device)
        start = time.perf_counter()
        occlude_cell(("roar", 0.5, seed), placed["train_x"], placed["test_x"],
                     placed["train_maps"], placed["test_maps"], [128, 128, 128])
        _sync(args.device)
        times.append(time.perf_counter() - start)
    return min(times[1:])


def _attribution_seconds(args: argparse.Namespace) -> float | None:
    """Seconds to attribute the paper preset's images with every method (None without captum)."""
    try:
        from bench.throughput import measure
        from methods import available_methods
    except ImportError as error:
        print(f"maps not projected ({error})")
        return None
    methods = available_methods()
    rates = measure("paper_cnn", args.image_size, 10, args.batch, methods, args.device)
    # ROAR images (50,000 + 10,000) for every ranking method, plus ~11,000 evaluation images
    per_method = 60_000 + 11_000
    seconds = sum(per_method / rates.attribution[m] for m in methods if m != "random")
    print("attribution images/s: " + ", ".join(f"{m} {rates.attribution[m]:,.0f}" for m in methods))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--k", type=int, nargs="+", default=[30, 90])
    parser.add_argument("--n-train", type=int, default=50_000)
    parser.add_argument("--n-test", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--bf16", choices=["off", "on", "both"], default="both")
    parser.add_argument("--no-maps", action="store_true", help="skip the attribution rates")
    args = parser.parse_args()
    args.device = torch.device(args.device)
    data = _data(args)
    name = torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else "cpu"
    print(f"device {args.device} ({name}), torch {torch.__version__}, n_train {args.n_train}, "
          f"n_test {args.n_test}, batch {args.batch}, epochs {args.epochs}")
    _time_cells(args, {**data, "train_x": data["train_x"][:2000], "train_y": data["train_y"][:2000],
                       "train_maps": data["train_maps"][:2000]}, 2, "ensemble", False)  # warm-up
    steps = args.n_train * args.epochs
    occlusion = _occlusion_seconds(args, data)
    print(f"occlusion of one cell (train + test): {occlusion:.2f} s; image-steps/s below count "
          "training only (seconds minus each cell's occlusion)")
    seconds, cells = _time_cells(args, data, 1, "sequential", False)
    sequential = cells * steps / max(seconds - cells * occlusion, 1e-9)
    print(f"{'engine':<22} {'cells':>5} {'seconds':>8} {'img-steps/s':>12} {'vs sequential':>14}")
    print(f"{'sequential':<22} {cells:>5} {seconds:>8.1f} {sequential:>12,.0f} {1.0:>14.2f}")
    best, best_label = sequential, "sequential"
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.bf16]
    for k in args.k:
        for bf16 in modes:
            seconds, cells = _time_cells(args, data, k, "ensemble", bf16)
            rate = cells * steps / max(seconds - cells * occlusion, 1e-9)
            label = f"ensemble K={cells}" + (" bf16" if bf16 else "")
            if rate > best:
                best, best_label = rate, label
            print(f"{label:<22} {cells:>5} {seconds:>8.1f} {rate:>12,.0f} {rate / sequential:>14.2f}")
    _project(args, sequential, best, best_label, occlusion)


def _project(
    args: argparse.Namespace, sequential: float, best: float, label: str, occlusion: float
) -> None:
    p = PAPER
    cells = p["methods"] * p["modes"] * p["fractions"] * p["seeds"]
    leakage = p["methods"] * p["fractions"] * p["leakage_seeds"]
    cell_steps = p["n_train"] * p["epochs"]
    retraining = (cells + leakage) * (cell_steps / best + occlusion)
    models = 2 * p["n_train"] * p["model_epochs"] / sequential
    maps = None if args.no_maps else _attribution_seconds(args)
    total = retraining + models + (maps or 0.0)
    print(f"paper preset projection ({cells} cells + {leakage} leakage classifiers of "
          f"{cell_steps:,} image-steps, at the best rate {best:,.0f}/s, {label}): retraining "
          f"{retraining / 60:.1f} min, models {models / 60:.1f} min, maps "
          f"{'not measured' if maps is None else f'{maps / 60:.1f} min'}; total "
          f"{total / 60:.1f} min (target <= 20 min; scores and data not included)")


if __name__ == "__main__":
    main()
