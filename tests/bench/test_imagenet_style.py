"""The ``imagenet-style`` preset (issue 13): a torchvision model with local weights on an ImageFolder
of any image size, the Figure-1 gallery and the retraining-free metrics, nothing trained.

The smoke run uses untrained, seeded resnet18 weights saved to a temporary file and a generated
12-image tree of 64..95 px images (resized and cropped to 64 px), with PNG masks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from bench.config import RunConfig
from bench.presets import RETRAINING_FREE_METRICS, deviations, get_preset
from bench.runner import run_benchmark
from bench.weights import weights_sha256

METHODS = ("saliency", "guided_backprop", "integrated_gradients", "random")


def test_the_preset_is_224_px_a_torchvision_model_and_no_retraining() -> None:
    config = get_preset("imagenet-style")
    assert config.model == "torchvision.resnet50" and config.weights == ""
    assert (config.data.source, config.data.resize, config.data.crop) == ("imagefolder", 256, 224)
    assert config.metrics == RETRAINING_FREE_METRICS and config.evaluation.gallery > 0
    assert "deeplift" not in config.methods and "rectgrad" in config.methods
    assert RunConfig.from_toml(config.to_toml()) == config
    with_weights = replace(config, weights="r50.pth")
    assert "the explained model is loaded from weights (--weights), not trained with the " \
        "paper's recipe" in deviations(with_weights)


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """``(tree, weights)``: 3 classes x 4 test images of 64..95 px with masks (an object box
    brighter in the class's channel), and a seeded, untrained resnet18's state_dict."""
    monkeypatch.setenv("RECTBENCH_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    tree = tmp_path / "photos"
    for label, name in enumerate(("bird", "cat", "dog")):
        for i in range(4):
            height, width = rng.integers(64, 96, size=2)
            image = rng.integers(0, 120, (height, width, 3), dtype=np.uint8)
            mask = np.zeros((height, width), dtype=np.uint8)
            mask[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
            image[mask > 0, label] = 240
            for folder, array in (("test", image), ("masks", mask)):
                (tree / folder / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(tree / folder / name / f"{name}_{i}.png")
    torch.manual_seed(0)
    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), weights)
    yield tree, weights


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_smoke_run_on_generated_images_with_seeded_weights(
    generated: tuple[Path, Path], tmp_path: Path
) -> None:
    tree, weights = generated
    preset = get_preset("imagenet-style")
    config = replace(
        preset, model="torchvision.resnet18", weights=str(weights), methods=METHODS,
        data=replace(preset.data, path=str(tree), masks=str(tree / "masks"), resize=64, crop=64),
        evaluation=replace(preset.evaluation, gallery=3, batch_size=4),
    )
    out = tmp_path / "run"
    lines: list[str] = []
    result = run_benchmark(config, out, progress=False, echo=lines.append)
    assert any("not trained" in line for line in lines)
    assert not (out / "cache" / "models").exists()

    con = sqlite3.connect(out / "results.sqlite")
    try:
        dataset, model, env = con.execute("SELECT dataset, model, env_json FROM runs").fetchone()
        counts = dict(con.execute("SELECT metric, COUNT(*) FROM image_scores WHERE "
                                  "method='saliency' GROUP BY metric"))
        gallery = dict(con.execute("SELECT method, COUNT(*) FROM gallery GROUP BY method"))
        masked = con.execute("SELECT COUNT(*) FROM image_sets WHERE image_set='masked'").fetchone()
    finally:
        con.close()
    assert model == f"torchvision.resnet18@{weights_sha256(weights)[:12]}"
    assert json.loads(env)["weights"]["sha256"] == weights_sha256(weights)
    assert dataset.startswith("photos@")
    assert counts["total_variation"] == 12  # every test image, at 64 x 64
    assert 1 <= counts["background_fraction"] == masked[0] <= 12
    assert set(gallery) == set(METHODS) and min(gallery.values()) >= 1  # the Figure-1 gallery
    scores = result.scores.set_index(["method", "metric", "statistic"])["value"]
    assert np.isfinite(scores.loc[("saliency", "background_fraction", "median")])
