"""Issue 11, "A run folder is one run, verified, and nothing outside it is touched": one test per
reported case (1, 2, 3, 4 and 7's concurrent run; cases 5 and 7's CLI details are in
test_cli_errors.py). Every test here uses only interfaces that existed when the issue was filed
(the CLI, run_benchmark, the caches, the reports), so each one reproduces its case on that code."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import RunConfig, TrainRecipe, config_hash

pytestmark = pytest.mark.usefixtures("one_torch_thread")

RUN = ("--no-progress", "--no-report")


def _run_id(config: RunConfig) -> str:
    return config_hash(replace(config, device="*"))


def _run(config: Path, out: Path, *extra: str) -> int:
    return main(["run", "--config", str(config), "--out", str(out), *RUN, *extra])


def _toml(tmp_path: Path, config: RunConfig, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(config.to_toml())
    return path


# --- case 1: a folder holding more than one run reported the wrong one -----------------------------


@pytest.mark.slow
def test_case1_a_second_configuration_is_refused_and_the_folder_reports_its_one_run(
    tmp_path: Path, small_run_toml: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "X"
    assert _run(small_run_toml, out) == 0
    capsys.readouterr()
    assert _run(small_run_toml, out, "--methods", "saliency") == 2
    err = capsys.readouterr().err
    assert f"holds run {_run_id(small_run)}" in err and "--fresh" in err, err
    assert _run(small_run_toml, out) == 0
    assert "resuming run" in capsys.readouterr().out
    assert main(["report", str(out)]) == 0
    assert f"report of run {_run_id(small_run)}" in capsys.readouterr().out
    for name in ("leaderboard.csv", "scores.csv"):
        assert set(pd.read_csv(out / name)["method"]) == set(small_run.methods), name


@pytest.mark.slow
def test_case1_another_seed_never_writes_into_the_folder_of_a_run(
    tmp_path: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    from reports import list_run_ids

    config = _toml(tmp_path, replace(small_run, methods=("saliency",)))
    out = tmp_path / "X"
    assert _run(config, out, "--seed", "1") == 0
    stored = (out / "config.toml").read_text()
    capsys.readouterr()
    assert _run(config, out, "--seed", "0") == 2
    assert "--fresh" in capsys.readouterr().err
    assert (out / "config.toml").read_text() == stored
    assert RunConfig.from_toml(stored).seed == 1
    assert _run(config, out, "--seed", "0", "--fresh") == 0
    assert RunConfig.from_file(out / "config.toml").seed == 0
    marker = json.loads((out / ".rectbench-run").read_text())
    assert list_run_ids(out) == [marker["run_id"]]


# --- case 2: ROAR/KAR settings that dropped results with exit code 0 -------------------------------


ROAR_CASES = [
    ({"metrics": ("total_variation", "kar_aoc")}, {"modes": ("roar",)}, "roar.modes"),
    ({"metrics": ("roar_auc",)}, {"modes": ("roar", "foo")}, "roar.modes"),
    ({"metrics": ("roar_auc",)}, {"fractions": ()}, "roar.fractions"),
    ({"metrics": ("roar_auc",)}, {"seeds": ()}, "roar.seeds"),
]


@pytest.mark.parametrize(("top", "roar", "setting"), ROAR_CASES,
                         ids=["kar-without-its-mode", "mode-foo", "no-fractions", "no-seeds"])
def test_case2_roar_settings_fail_before_training_and_write_nothing(
    small_run: RunConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    top: dict[str, Any], roar: dict[str, Any], setting: str,
) -> None:
    config = replace(small_run, methods=("saliency",), **top)
    path = _toml(tmp_path, replace(config, roar=replace(config.roar, **roar)))
    out = tmp_path / "out"
    code = _run(path, out)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith(f"rectbench: error: {setting} (in --config {path}): "), err
    assert not out.exists()


def _cifar10_tree(root: Path, per_class: int) -> Path:
    """A valid CIFAR-10 ImageFolder tree of random 32x32 PNG images."""
    from PIL import Image

    from bench.data import CIFAR10_CLASSES

    generator = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                pixels = torch.randint(0, 256, (32, 32, 3), generator=generator, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(root / split / name / f"{i}.png")
    return root


def test_case2_the_mask_file_is_read_before_training_and_before_the_folder_is_made(
    small_run: RunConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.runner import run_benchmark

    monkeypatch.setenv("RECTBENCH_CACHE", str(tmp_path / "decoded"))
    broken = tmp_path / "CIFAR10_mask.tar"
    broken.write_bytes(b"not a tar archive")
    data = replace(small_run.data, source="cifar10", n_train=0, n_test=0,
                   path=str(_cifar10_tree(tmp_path / "cifar", 2)), masks=str(broken))
    config = replace(small_run, methods=("saliency",), data=data,
                     metrics=("total_variation", "background_fraction"))
    with pytest.raises(ValueError, match="cannot read .*CIFAR10_mask.tar as a tar archive"):
        run_benchmark(config, tmp_path / "out", progress=False, echo=lambda _: None)
    assert not (tmp_path / "out").exists()


# --- case 3: files outside a run deleted or overwritten ------------------------------------------


def test_case3_fresh_and_run_leave_a_foreign_folder_untouched(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "D"
    (folder / "cache").mkdir(parents=True)
    (folder / "cache" / "thesis.tex").write_text("keep")
    (folder / "config.toml").write_text("mine")
    for extra in (["--fresh"], []):
        assert _run(small_run_toml, folder, *extra) == 2
        err = capsys.readouterr().err
        assert "is not a rectbench run folder" in err and "choose a new or empty folder" in err
    assert (folder / "cache" / "thesis.tex").read_text() == "keep"
    assert (folder / "config.toml").read_text() == "mine"
    assert sorted(p.name for p in folder.rglob("*")) == ["cache", "config.toml", "thesis.tex"]


# --- case 4: cached files trusted blindly ------------------------------------------------------------


def _one_flip_per_image(path: Path, flip_bits: Callable[..., None]) -> None:
    """One flipped exponent bit in each image's map (float32 (N, H, W)) of a maps file."""
    stored = torch.load(path, weights_only=True)
    maps = stored if isinstance(stored, torch.Tensor) else stored["content"]["maps"]
    n, h, w = maps.shape
    flip_bits(path, [(i * h * w + (h // 2) * w + w // 2) * 4 + 3 for i in range(n)])


@pytest.mark.slow
def test_case4_flipped_bits_in_cached_maps_are_caught_and_the_numbers_stay(
    tmp_path: Path, small_run: RunConfig, flip_bits: Callable[..., None]
) -> None:
    from bench.runner import run_benchmark
    from reports import load_run, run_leaderboard

    config = replace(small_run, methods=("saliency", "rectgrad"))
    out = tmp_path / "run"

    def board() -> pd.DataFrame:
        result = run_benchmark(config, out, progress=False, echo=lambda _: None)
        tables = load_run(out, result.run_id)
        return run_leaderboard(tables).set_index("method")

    first = board()
    maps = sorted((out / "cache" / "maps").glob("*.pt"))
    assert maps
    for path in maps:
        _one_flip_per_image(path, flip_bits)
    (out / "results.sqlite").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = board()
    pd.testing.assert_frame_equal(again, first)
    assert len([w for w in caught if "damaged cache file" in str(w.message)]) == len(maps)


def test_case4_a_model_whose_file_changed_is_retrained_not_loaded(
    tmp_path: Path, flip_bits: Callable[..., None]
) -> None:
    from bench.models import create_model
    from bench.training import ModelCache

    cache = ModelCache(tmp_path)
    key = cache.key("data", "paper_cnn", TrainRecipe(1, 10), 0)
    torch.manual_seed(0)
    path = cache.save(key, create_model("paper_cnn", num_classes=4, image_size=16),
                      {"test_accuracy": 0.5})
    flip_bits(path, [11])
    with pytest.warns(UserWarning, match="damaged cache file"):
        assert cache.load(key, create_model("paper_cnn", num_classes=4, image_size=16)) is None


def test_case4_decoded_data_whose_file_changed_is_decoded_again(
    tmp_path: Path, flip_bits: Callable[..., None]
) -> None:
    from bench.data.cache import load_cached, save_atomic

    path = tmp_path / "cifar10" / "key.pt"
    save_atomic({"train_images": torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8)}, path)
    flip_bits(path, [100])
    with pytest.warns(UserWarning, match="damaged cache file"):
        assert load_cached(path) is None


# --- case 7: two runs on one folder at once ---------------------------------------------------------


def test_case7_a_second_run_on_a_folder_in_use_stops_at_once(
    tmp_path: Path, small_run_toml: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".rectbench-run").write_text(json.dumps({"run_id": _run_id(small_run)}))
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".rectbench-lock").write_text(json.dumps(
            {"pid": holder.pid, "host": socket.gethostname(), "since": 0}))
        code = _run(small_run_toml, out)
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith(f"rectbench: error: --out {out}: in use by another rectbench run (pid "
                          f"{holder.pid} on {socket.gethostname()}")
    assert not (out / "results.sqlite").exists() and os.listdir(out) != []
