"""Cached artifacts are verified, never trusted blindly (issue 11, case 4), and a failed write leaves
no temporary file: maps, models and decoded data sets carry a SHA-256 of their content."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.data.cache import load_cached, save_atomic
from bench.map_cache import MapCache

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _one_flip_per_image(path: Path, flip_bits: Callable[..., None]) -> None:
    """One flipped exponent bit in each image's map (float32 (N, H, W)) of a maps file."""
    stored = torch.load(path, weights_only=True)
    maps = stored if isinstance(stored, torch.Tensor) else stored["content"]["maps"]
    n, h, w = maps.shape
    flip_bits(path, [(i * h * w + (h // 2) * w + w // 2) * 4 + 3 for i in range(n)])


def test_save_atomic_round_trips_and_a_flipped_bit_is_caught(
    tmp_path: Path, flip_bits: Callable[..., None]
) -> None:
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


def test_a_damaged_map_file_is_recomputed(tmp_path: Path, flip_bits: Callable[..., None]) -> None:
    cache = MapCache(tmp_path)
    maps = torch.rand(3, 8, 8)
    assert torch.equal(cache.get_or_compute("ab", lambda: maps), maps)
    _one_flip_per_image(cache.path("ab"), flip_bits)
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
