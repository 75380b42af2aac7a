"""Throughput of one ROAR/KAR cell against a plain training loop of the same model (target >= 0.9).

A cell (:func:`metrics.roar_kar.roar_kar` on one (mode, fraction, seed) with
:func:`bench.cells.make_cell_trainer`) occludes its train and test images, trains a fresh paper CNN
and scores every test image; the plain loop only trains the same model on the same number of
images (:func:`bench.training.train_tensors`). Both are timed alternately ``--repeats`` times in one
process; the script prints image-steps/s of each and the median ratio cell / plain, which should
stay >= 0.9 (the occlusion, the per-image bookkeeping and the evaluation cost < 10 %).
Quick-preset scale by default (1,500 / 500 images, 3 epochs); a minute or two on 2 CPU cores::

    python benchmarks/roar_cell_throughput.py
    python benchmarks/roar_cell_throughput.py --n-train 10000 --n-test 2000 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.cells import make_cell_trainer
from bench.models import create_model
from bench.training import TrainRecipe, train_tensors
from metrics import roar_kar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=1500)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    train_x = torch.randint(0, 256, (args.n_train, 3, 32, 32), generator=g, dtype=torch.uint8)
    train_y = torch.randint(0, 10, (args.n_train,), generator=g)
    test_x = torch.randint(0, 256, (args.n_test, 3, 32, 32), generator=g, dtype=torch.uint8)
    test_y = torch.randint(0, 10, (args.n_test,), generator=g)
    train_maps = torch.randn(args.n_train, 32, 32, generator=g)
    test_maps = torch.randn(args.n_test, 32, 32, generator=g)
    recipe = TrainRecipe(epochs=args.epochs)
    trainer = make_cell_trainer("paper_cnn", recipe, 10, 32)
    steps = args.n_train * args.epochs

    def plain() -> float:
        torch.manual_seed(0)
        model = create_model("paper_cnn", 10, 32)
        start = time.perf_counter()
        train_tensors(model, train_x, train_y, recipe, 0, progress=False)
        return time.perf_counter() - start

    def cell() -> float:
        start = time.perf_counter()
        roar_kar(trainer, train_x, train_y, test_x, test_y, train_maps, test_maps, [128] * 3,
                 fractions=(0.5, 0.9), seeds=(0,), modes=("roar",),
                 done={("roar", 0.9, 0): 0.0})  # one cell: (roar, 0.5, 0)
        return time.perf_counter() - start

    ratios = []
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, n_train {args.n_train}, "
          f"n_test {args.n_test}, epochs {args.epochs}")
    for repeat in range(args.repeats):
        p, c = plain(), cell()
        ratios.append(p / c)
        print(f"repeat {repeat}: plain loop {steps / p:,.0f} image-steps/s, ROAR cell "
              f"{steps / c:,.0f} image-steps/s, ratio {p / c:.3f}")
    print(f"median ratio cell / plain: {statistics.median(ratios):.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()
