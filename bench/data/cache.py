"""Where decoded data sets are cached, and how: atomic ``torch.save`` files keyed by the source.

Decoding 60,000 JPEG files takes seconds; loading the decoded ``uint8`` tensors takes a fraction of
a second. A cache entry is keyed by the source's resolved path and the size and modification time
of every file it was read from, so an edited or replaced source is decoded again.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = ["default_cache_dir", "default_data_dir", "source_key", "save_atomic", "load_cached"]

#: Bump when the decoded layout changes, so that old cache entries are ignored.
CACHE_FORMAT = 1


def default_data_dir() -> Path:
    """``$RECTBENCH_DATA`` when set, else ``~/.cache/rectbench/data``."""
    env = os.environ.get("RECTBENCH_DATA", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rectbench" / "data"


def default_cache_dir() -> Path:
    """``$RECTBENCH_CACHE`` when set, else ``~/.cache/rectbench``."""
    env = os.environ.get("RECTBENCH_CACHE", "")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rectbench"


def source_key(kind: str, root: Path, files: Iterable[Path]) -> str:
    """SHA-256 hex key of a source: its kind, resolved root path, and each file's path, size and
    modification time (ns). ``files`` should be in a deterministic order."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{kind}|{root.resolve()}".encode())
    for file in files:
        stat = file.stat()
        digest.update(f"|{file}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save(obj)`` to ``path`` through a temporary file in the same folder and
    ``os.replace``, so that a reader never sees a half-written file (also after ``kill -9``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cached(path: Path) -> dict[str, Any] | None:
    """The dict saved at ``path``, or None when there is none or it cannot be read (then a warning
    says so and the caller rebuilds the entry)."""
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged cache entry is rebuilt, never fatal
        warnings.warn(f"ignoring unreadable cache file {path} ({exc}); rebuilding it", stacklevel=3)
        return None
    if not isinstance(obj, dict):
        warnings.warn(f"ignoring foreign cache file {path}; rebuilding it", stacklevel=3)
        return None
    return obj
