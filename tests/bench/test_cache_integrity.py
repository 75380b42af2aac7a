"""Cached artifacts are verified, never trusted blindly (issue 11, case 4), and a failed write leaves
no temporary file: maps, models and decoded data sets carry a SHA-256 of their content."""

from __future__ import annotations

import errno
import os
import struct
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from bench.config import RunConfig, TrainRecipe
from bench.data.cache import load_cached, save_atomic
from bench.map_cache import MapCache
from bench.models import create_model
from bench.training import ModelCache

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def flip_bits(path: Path, offsets: list[int], storage: int = 0) -> None:
    """Flip bit 6 of the given bytes of tensor storage number ``storage`` inside a ``torch.save``
    file, in place on disk (what a failing disk or a bad copy does)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(f"/data/{storage}"))
    with open(path, "r+b") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", file.read(4))
        start = info.header_offset + 30 + name_length + extra_length
        for offset in offsets:
            file.seek(start + offset)
            byte = file.read(1)[0]
            file.seek(start + offset)
            file.write(bytes([byte ^ 0x40]))


def _one_flip_per_image(path: Path) -> None:
    """One flipped exponent bit in each image's map (float32 (N, H, W)) of a maps file."""
    stored = torch.load(path, weights_only=True)
    maps = stored if isinstance(stored, torch.Tensor) else stored["content"]["maps"]
    n, h, w = maps.shape
    flip_bits(path, [(i * h * w + (h // 2) * w + w // 2) * 4 + 3 for i in range(n)])


def test_save_atomic_round_trips_and_a_flipped_bit_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "data.pt"
    content = {"train_images": torch.arange(256, dtype=torch.uint8).reshape(4, 1, 8, 8),
               "classes": ["a", "b"], "n": 3}
    save_atomic(content, path)
    loaded = load_cached(path)
    assert torch.equal(loaded["train_images"], content["train_images"])
    assert loaded["classes"] == ["a", "b"] and loaded["n"] == 3
    flip_bits(path, [100])
    with pytest.warns(UserWarning, match="damaged cache file .* SHA-256"):
        assert load_cached(path) is None


def test_a_file_without_checksum_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    torch.save({"train_images": torch.zeros(2)}, path)  # what rectbench wrote before checksums
    with pytest.warns(UserWarning, match="no checksum"):
        assert load_cached(path) is None


def test_a_model_whose_file_changed_is_retrained_not_loaded(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    key = cache.key("data", "paper_cnn", TrainRecipe(1, 10), 0)
    torch.manual_seed(0)
    model = create_model("paper_cnn", num_classes=4, image_size=16)
    path = cache.save(key, model, {"test_accuracy": 0.5})
    assert cache.load(key, create_model("paper_cnn", num_classes=4, image_size=16)) is not None
    flip_bits(path, [11])
    with pytest.warns(UserWarning, match="damaged cache file"):
        assert cache.load(key, create_model("paper_cnn", num_classes=4, image_size=16)) is None


def test_a_damaged_map_file_is_recomputed(tmp_path: Path) -> None:
    cache = MapCache(tmp_path)
    maps = torch.rand(3, 8, 8)
    assert torch.equal(cache.get_or_compute("ab", lambda: maps), maps)
    _one_flip_per_image(cache.path("ab"))
    with pytest.warns(UserWarning, match="damaged cache file"):
        again = cache.get_or_compute("ab", lambda: maps)
    assert torch.equal(again, maps) and torch.equal(cache.load("ab"), maps)


def _disk_full(obj: object, f: Any, *args: object, **kwargs: object) -> None:
    if isinstance(f, (str, os.PathLike)):
        Path(f).write_bytes(b"partial")
    else:
        f.write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_leaves_no_temporary_file_and_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = MapCache(tmp_path / "maps")
    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(OSError) as info:
        cache.get_or_compute("ab", lambda: torch.zeros(1, 4, 4))
    assert info.value.errno == errno.ENOSPC
    assert info.value.filename == str(cache.path("ab"))
    assert list((tmp_path / "maps").iterdir()) == []


@pytest.mark.slow
def test_case4_flipped_bits_in_cached_maps_are_caught_and_the_numbers_stay(
    tmp_path: Path, small_run: RunConfig
) -> None:
    from bench.runner import run_benchmark
    from reports import Catalog, leaderboard_table, load_run

    config = replace(small_run, methods=("saliency", "rectgrad"))
    out = tmp_path / "run"

    def board() -> pd.DataFrame:
        result = run_benchmark(config, out, progress=False, echo=lambda _: None)
        tables = load_run(out, result.run_id)
        return leaderboard_table(tables.scores, Catalog.of(tables)).set_index("method")

    first = board()
    maps = sorted((out / "cache" / "maps").glob("*.pt"))
    assert maps
    for path in maps:
        _one_flip_per_image(path)
    (out / "results.sqlite").unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = board()
    pd.testing.assert_frame_equal(again, first)
    damaged = [w for w in caught if "damaged cache file" in str(w.message)]
    assert len(damaged) == len(maps)
