"""A user's data, model and weights that cannot work are refused before any work, in one line
naming the option and the fix, exit code 2 (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.cli import main
from bench.models import PaperCNN

RUN = ("--no-progress", "--no-report", "--methods", "saliency", "--metrics", "total_variation")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, "\n".join(lines)
    assert lines[0].startswith("rectbench: error: "), lines[0]
    return lines[0].removeprefix("rectbench: error: ")


@pytest.fixture
def tree(tmp_path: Path, image_tree: Callable[..., Path]) -> Path:
    """Three classes of two 32 x 32 test images with PNG masks, no train/."""
    return image_tree(tmp_path / "tree", masks=True)


def _weights(path: Path, num_classes: int) -> Path:
    torch.manual_seed(0)
    torch.save(PaperCNN(num_classes=num_classes).state_dict(), path)
    return path


def _run(tmp_path: Path, small_run_toml: Path, *options: str) -> int:
    out = tmp_path / "out"
    code = main(["run", "--config", str(small_run_toml), "--out", str(out), *RUN, *options])
    assert not out.exists()  # nothing written: refused before any work
    return code


def test_weights_that_do_not_fit_the_model(
    tmp_path: Path, tree: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _weights(tmp_path / "five.pt", num_classes=5)
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--weights", str(weights)) == 2
    assert _error(capsys) == (
        f"--weights {weights}: do not fit model paper_cnn: 2 shape mismatches (classifier.3.weight "
        "file (5, 256) vs model (3, 256), classifier.3.bias file (5,) vs model (3,)); give weights "
        "saved from this architecture, for the data's class count")
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(PaperCNN(num_classes=3)).save(str(scripted))
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--weights", str(scripted)) == 2
    assert "a TorchScript archive is refused" in _error(capsys)


def test_masks_whose_size_differs_from_the_images(
    tmp_path: Path, tree: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Image.fromarray(np.zeros((30, 30), dtype=np.uint8)).save(tree / "masks" / "red" / "red1.png")
    weights = _weights(tmp_path / "three.pt", num_classes=3)
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--weights", str(weights),
                "--masks", str(tree / "masks")) == 2
    mask, image = tree / "masks" / "red" / "red1.png", tree / "test" / "red" / "red1.png"
    assert _error(capsys).startswith(
        f"--masks {tree / 'masks'}: mask {mask} is 30x30 px but its image {image} is 32x32 px; "
        "a mask must have its image's size; give a folder of <class>/<name>.png masks")


def test_a_retraining_metric_without_train(
    tmp_path: Path, tree: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = _weights(tmp_path / "three.pt", num_classes=3)
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--weights", str(weights),
                "--metrics", "total_variation,roar_auc") == 2
    assert _error(capsys) == (
        f"--data {tree}: {tree} has no train/ folder, which metric roar_auc need(s); add "
        "train/<class>/<image> files, or give --weights and drop the metrics that retrain "
        "(ROAR/KAR) or train a patch model")
    assert _run(tmp_path, small_run_toml, "--data", str(tree)) == 2  # no weights: it trains
    assert "which training the model (no weights given) need(s)" in _error(capsys)


def test_background_metrics_need_masks_and_the_model_must_take_the_images(
    tmp_path: Path, tree: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str],
    image_tree: Callable[..., Path],
) -> None:
    weights = _weights(tmp_path / "three.pt", num_classes=3)
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--weights", str(weights),
                "--metrics", "background_fraction") == 2
    assert _error(capsys).startswith("data.masks (in --config ")
    image_tree(tree, splits=("train",))  # without weights the model trains
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--model",
                "torchvision.alexnet", "--resize", "48") == 2
    assert _error(capsys).startswith("--model torchvision.alexnet: torchvision.alexnet fails on "
                                     "48x48 images (RuntimeError: ")
    assert _run(tmp_path, small_run_toml, "--data", str(tree), "--crop", "40") == 2
    assert _error(capsys) == (
        f"--crop 40: image {tree / 'test' / 'blue' / 'blue0.png'} is 32x32 px, smaller than 40; "
        "set data.resize >= 40 or a smaller crop")
