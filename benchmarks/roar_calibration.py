"""Calibrate ROAR/KAR protocols: retrained clean accuracy and the spread of paired differences.

For each protocol ``n_train:n_test:epochs:fractions:seeds`` (e.g. ``1500:500:3:0.1,0.5,0.9:5``) on
CIFAR-10 (the runner's order: stratified with seed 0 / 1, then the first n images):

- the clean accuracy of models retrained with the ROAR recipe on unoccluded images (mean and SD
  over seeds): the scale's ceiling (the issue asks >= 0.55 for a protocol that can rank methods);
- the ROAR/KAR cells of one method (default Gradient * Input, maps of a model trained like the
  quick preset's) and of Random, paired by seed, with per-image correctness; their paired
  difference (:func:`metrics.roar_paired.paired_difference`): the SD over seeds, the standard error
  from the test images, and the standard error of a run with 1 and 3 seeds
  (``sqrt(sd^2 / S + se_images^2)``); a protocol resolves a 0.03 difference when 2 SE <= 0.03.

Cells train as one ensemble per method on CUDA, sequentially on the CPU. Prints one block per
protocol and writes all numbers to ``--out`` (JSON). On one H100, the default protocols take a
few minutes (decoding CIFAR-10 included)::

    python benchmarks/roar_calibration.py --data cifar10-jpeg.tar.gz --device cuda --out calib.json
    python benchmarks/roar_calibration.py --synthetic --device cpu --protocols 200:100:1:0.25,0.75:2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.cells import make_cell_trainer
from bench.data import load_cifar10, make_synthetic, to_model_input
from bench.ensemble import make_ensemble_train_and_evaluate
from bench.models import create_model
from bench.training import TrainRecipe, train_tensors
from methods import create_method, to_map
from metrics import roar_kar
from metrics.roar_paired import paired_difference

DEFAULT_PROTOCOLS = (
    "1500:500:3:0.1,0.5,0.9:5",
    "1500:2000:3:0.1,0.5,0.9:5",
    "5000:2000:3:0.1,0.5,0.9:5",
    "10000:2000:3:0.1,0.5,0.9:5",
    "50000:10000:3:0.1,0.3,0.5,0.7,0.9:3",
)


def _protocol(text: str) -> dict:
    n_train, n_test, epochs, fractions, seeds = text.split(":")
    return {"n_train": int(n_train), "n_test": int(n_test), "epochs": int(epochs),
            "fractions": tuple(float(f) for f in fractions.split(",")), "seeds": int(seeds)}


def _maps(model: torch.nn.Module, method: str, images: torch.Tensor, targets: torch.Tensor,
          device: torch.device) -> torch.Tensor:
    explain = create_method(method, model)
    out = []
    for start in range(0, len(images), 500):
        x = to_model_input(images[start:start + 500]).to(device)
        t = targets[start:start + 500].to(device)
        out.append(to_map(explain.attribute(x, target=t).detach()).cpu())
    return torch.cat(out)


def _trainers(device: torch.device, recipe: TrainRecipe, classes: int, size: int) -> dict:
    if device.type == "cuda":
        batch = make_ensemble_train_and_evaluate("paper_cnn", recipe, classes, size, device,
                                                 per_image=True)
        return {"single": None, "batch": batch}
    return {"single": make_cell_trainer("paper_cnn", recipe, classes, size, device), "batch": None}


def calibrate(p: dict, data: tuple, model: torch.nn.Module, method: str, device: torch.device) -> dict:
    train_all, test_all = data
    train, test = train_all.head(p["n_train"]), test_all.head(p["n_test"])
    size, classes = train.images.shape[-1], len(train.classes)
    recipe = TrainRecipe(epochs=p["epochs"])
    seeds = tuple(range(p["seeds"]))
    trainers = _trainers(device, recipe, classes, size)
    start = time.perf_counter()
    clean_cells = [(train.images, train.labels, test.images, test.labels, s) for s in seeds]
    if trainers["batch"] is not None:
        clean = trainers["batch"](clean_cells)
    else:
        clean = [trainers["single"](*cell) for cell in clean_cells]
    clean_acc = torch.tensor([float(c.double().mean()) for c in clean])
    with torch.no_grad():
        targets = torch.cat([model(to_model_input(x.to(device))).argmax(1).cpu()
                             for x in (train.images.split(1000))])
        test_targets = torch.cat([model(to_model_input(x.to(device))).argmax(1).cpu()
                                  for x in (test.images.split(1000))])
    maps = {method: (_maps(model, method, train.images, targets, device),
                     _maps(model, method, test.images, test_targets, device)),
            "random": (None, None)}
    fill = train.images.double().mean(dim=(0, 2, 3))
    bits: dict[tuple, torch.Tensor] = {}
    scores = {}
    for name, (train_maps, test_maps) in maps.items():
        result = roar_kar(
            trainers["single"], train.images, train.labels, test.images, test.labels, train_maps,
            test_maps, fill, fractions=p["fractions"], seeds=seeds,
            on_correct=lambda m, f, s, c, name=name: bits.__setitem__((name, m, f, s), c),
            batch_train_and_evaluate=trainers["batch"], device=device,
        )  # fmt: skip
        scores[name] = {"roar_auc": result.roar_auc, "kar_aoc": result.kar_aoc,
                        "cell_sd": float(result.cells.groupby(["mode", "fraction"])["accuracy"]
                                         .std().mean())}
    out = {**p, "seconds": time.perf_counter() - start, "clean_mean": float(clean_acc.mean()),
           "clean_sd": float(clean_acc.std()) if len(seeds) > 1 else None, "scores": scores}
    for mode in ("roar", "kar"):
        cube = {name: torch.stack([torch.stack([bits[(name, mode, f, s)] for s in seeds])
                                   for f in p["fractions"]]) for name in maps}
        d = paired_difference(cube[method], cube["random"], p["fractions"], mode)
        out[mode] = {"difference": d.value, "sd_seeds": d.sd_seeds, "se_images": d.se_images,
                     "se_1_seed": (d.sd_seeds**2 + d.se_images**2) ** 0.5,
                     "se_3_seeds": (d.sd_seeds**2 / 3 + d.se_images**2) ** 0.5,
                     "se_run": d.standard_error()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="CIFAR-10 (release, tree or the jpeg tar.gz)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic shapes (a smoke test)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--protocols", nargs="+", default=list(DEFAULT_PROTOCOLS))
    parser.add_argument("--method", default="grad_x_input")
    parser.add_argument("--model-epochs", type=int, default=2, help="the explained model's epochs")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    device = torch.device(args.device)
    start = time.perf_counter()
    if args.synthetic:
        train, test = make_synthetic(2000, 500, seed=0, image_size=32)
    else:
        train, test = load_cifar10(args.data, progress=False)
    train, test = train.stratified(0, seed=0), test.stratified(0, seed=1)
    print(f"data: {len(train)} / {len(test)} images ({time.perf_counter() - start:.0f} s)", flush=True)
    torch.manual_seed(0)
    model = create_model("paper_cnn", len(train.classes), train.images.shape[-1])
    train_tensors(model, train.images, train.labels, TrainRecipe(epochs=args.model_epochs), 0,
                  device=device, progress=False)
    results = []
    for text in args.protocols:
        r = calibrate(_protocol(text), (train, test), model.eval(), args.method, device)
        results.append(r)
        print(f"{text}: clean {r['clean_mean']:.4f} (SD {r['clean_sd']}), {r['seconds']:.0f} s",
              flush=True)
        for mode in ("roar", "kar"):
            m = r[mode]
            print(f"  {mode}: {args.method} - random {m['difference']:+.4f}, seed SD "
                  f"{m['sd_seeds']:.4f}, image SE {m['se_images']:.4f}, SE 1 seed "
                  f"{m['se_1_seed']:.4f}, 3 seeds {m['se_3_seeds']:.4f}; cell SD "
                  f"{r['scores']['random']['cell_sd']:.4f}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
