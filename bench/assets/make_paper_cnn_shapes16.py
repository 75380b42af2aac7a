"""Regenerate ``paper_cnn_shapes16.ckpt``: the small trained PaperCNN that the control-metric tests
pin (class sensitivity, feature-map occlusion, noise accumulation).

The tests load the shipped file and never train: training is not bit-reproducible across CPUs.
Run from the repository root (about a minute on 2 cores)::

    python bench/assets/make_paper_cnn_shapes16.py

Recipe: PaperCNN(num_classes=4, in_channels=3, image_size=16), Glorot init under
``torch.manual_seed(0)``, trained 3 epochs (Adam 1e-3, batch 50, shuffle seed 0) on
``make_synthetic(2000, 200, seed=0, image_size=16)``; weights stored as float16 (about 0.66 MB) and
loaded back into float32.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from bench.data import make_synthetic
from bench.models import PaperCNN
from bench.training import TrainRecipe, evaluate_accuracy, train_tensors

ASSET = Path(__file__).with_name("paper_cnn_shapes16.ckpt")
DATA = {"n_train": 2000, "n_test": 200, "seed": 0, "image_size": 16, "num_classes": 4}
RECIPE = TrainRecipe(epochs=3, batch_size=50, lr=1e-3, seed=0)


def main(path: Path = ASSET) -> None:
    train, test = make_synthetic(
        DATA["n_train"], DATA["n_test"], seed=DATA["seed"], image_size=DATA["image_size"],
        num_classes=DATA["num_classes"],
    )
    torch.manual_seed(0)
    model = PaperCNN(num_classes=DATA["num_classes"], image_size=DATA["image_size"])
    result = train_tensors(model, train.images, train.labels, RECIPE, progress=False)
    state = {k: v.to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    accuracy = evaluate_accuracy(model, test.images, test.labels)
    meta = {"data": DATA, "recipe": RECIPE.to_dict(), "test_accuracy": accuracy,
            "epoch_losses": result.epoch_losses}
    torch.save({"state_dict": state, "meta": meta}, path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB), test accuracy {accuracy:.3f}")


def load(path: Path = ASSET) -> tuple[PaperCNN, dict]:
    """The shipped model (float32, eval mode) and its metadata."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    data = blob["meta"]["data"]
    model = PaperCNN(num_classes=data["num_classes"], image_size=data["image_size"])
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    return model.eval(), blob["meta"]


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ASSET)
