"""The official CIFAR-10 python release: its pickled batch files, read safely.

A batch file is a pickle; only the globals a CIFAR-10 batch needs (numpy arrays) are allowed, so a
foreign or malicious file fails with a clear ``ValueError`` instead of running code.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch

from bench.data.imageset import CIFAR10_CLASSES

__all__ = ["TRAIN_BATCHES", "RELEASE_FILES", "read_batch", "check_meta", "from_batches"]

TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
RELEASE_FILES = (*TRAIN_BATCHES, "test_batch")


def _numpy_reconstructors() -> dict[tuple[str, str], Any]:
    """The few globals a CIFAR-10 pickle may name (numpy arrays), under numpy 1 and 2 names."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    import codecs

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): codecs.encode,
    }
    for module in ("numpy.core", "numpy._core"):
        allowed[(f"{module}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _ReleaseUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches only: numpy arrays, lists, dicts; any other global is refused
    (a pickle can run code, and a foreign file should fail with a clear message instead)."""

    _allowed = _numpy_reconstructors()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(data: bytes, where: str) -> dict[Any, Any]:
    import io

    try:
        obj = _ReleaseUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure means a corrupt or foreign file
        raise ValueError(
            f"{where} is not a CIFAR-10 python batch file ({type(exc).__name__}: {exc}). The file is "
            "corrupt or from another data set; download the release again (download=True)"
        ) from exc
    if not isinstance(obj, dict):
        raise ValueError(
            f"{where} is not a CIFAR-10 python batch file (holds a {type(obj).__name__})"
        )
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_batch(data: bytes, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch file -> (images uint8 (N, 3, 32, 32), labels int64 (N,))."""
    batch = _unpickle(data, where)
    if "fine_labels" in batch:
        raise ValueError(f"{where} is a CIFAR-100 batch, not CIFAR-10")
    pixels, labels = batch.get("data"), batch.get("labels")
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 2
        or pixels.shape[1] != 3072
    ):
        got = (
            f"{pixels.dtype} {pixels.shape}"
            if isinstance(pixels, np.ndarray)
            else type(pixels).__name__
        )
        raise ValueError(f"{where}: 'data' must be a uint8 array of shape (N, 3072), got {got}")
    label_tensor = (
        torch.as_tensor(np.asarray(labels, dtype=np.int64)) if labels is not None else None
    )
    if label_tensor is None or label_tensor.shape != (pixels.shape[0],):
        raise ValueError(f"{where}: 'labels' must hold one label per image ({pixels.shape[0]})")
    if label_tensor.numel() and (int(label_tensor.min()) < 0 or int(label_tensor.max()) > 9):
        raise ValueError(f"{where}: labels must lie in 0..9 for CIFAR-10")
    # The release stores each image as 1024 red, 1024 green, 1024 blue values, row-major.
    images = torch.from_numpy(np.ascontiguousarray(pixels)).reshape(-1, 3, 32, 32)
    return images, label_tensor


def check_meta(data: bytes, where: str) -> None:
    names = _unpickle(data, where).get("label_names")
    decoded = [n.decode() if isinstance(n, bytes) else n for n in (names or [])]
    if tuple(decoded) != CIFAR10_CLASSES:
        raise ValueError(
            f"{where}: label_names {decoded} are not the CIFAR-10 classes {list(CIFAR10_CLASSES)}"
        )


def from_batches(batches: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    train = [batches[n] for n in TRAIN_BATCHES]
    return {
        "classes": list(CIFAR10_CLASSES),
        "train_images": torch.cat([x for x, _ in train]),
        "train_labels": torch.cat([y for _, y in train]),
        "test_images": batches["test_batch"][0].clone(),
        "test_labels": batches["test_batch"][1].clone(),
    }
