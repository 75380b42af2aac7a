"""Where cached artifacts live, and how they are written and read: checksummed, atomic files.

Every cached artifact (decoded data sets, trained models, attribution maps) is written with
:func:`save_atomic`: the content and a SHA-256 digest of it (tensor dtypes, shapes and bytes, and
every other value) go into one ``torch.save`` file, written to a temporary name in the same folder
and renamed, so that a reader never sees a half-written file (also after ``kill -9``) and a failed
write (disk full) leaves no temporary file behind. :func:`load_cached` recomputes the digest and
treats a mismatch (a flipped bit on disk, a truncated copy) or an unreadable, foreign or unchecked
file as missing, with one warning, so that the caller rebuilds the entry.

Decoding 60,000 JPEG files takes seconds; loading the decoded ``uint8`` tensors takes a fraction of
a second (verifying their 184 MB digest adds a few tenths). A data cache entry is keyed by the
source's resolved path and the size and modification time of every file it was read from, so an
edited or replaced source is decoded again.
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

from bench import faults

__all__ = [
    "default_cache_dir", "default_data_dir", "source_key", "content_digest", "save_atomic",
    "load_cached",
]

#: Bump when the decoded layout changes, so that old cache entries are ignored.
CACHE_FORMAT = 1

#: Tag of a checksummed cache file written by :func:`save_atomic`.
CHECKED_FORMAT = "rectbench-checked-1"


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


def content_digest(obj: Any) -> str:
    """SHA-256 hex digest of ``obj``: tensors (dtype, shape, bytes), dicts (by sorted key), lists,
    tuples, strings, numbers, booleans and None, walked in a fixed order.

    Raises:
        TypeError: ``obj`` holds a value of another type (it could not be verified on load).
    """
    digest = hashlib.sha256()
    _feed(digest, obj)
    return digest.hexdigest()


def _feed(digest: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        tensor = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{tensor.dtype}{tuple(obj.shape)}|".encode())
        digest.update(memoryview(tensor.numpy()).cast("B"))
    elif isinstance(obj, dict):
        digest.update(f"D{len(obj)}|".encode())
        for key in sorted(obj, key=repr):
            _feed(digest, key)
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"L{len(obj)}|".encode())
        for item in obj:
            _feed(digest, item)
    elif obj is None or isinstance(obj, (str, int, float, bool)):
        digest.update(f"{type(obj).__name__}:{obj!r}|".encode())
    else:
        raise TypeError(f"cannot checksum a {type(obj).__name__} in a cache entry")


def save_atomic(obj: Any, path: Path) -> None:
    """Write ``obj`` (see :func:`content_digest` for the types allowed) and its digest to ``path``
    through a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file (also after ``kill -9``); on any failure (disk full,
    permissions) the temporary file is removed and the ``OSError`` names ``path``.
    """
    entry = {"format": CHECKED_FORMAT, "sha256": content_digest(obj), "content": obj}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(entry, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is not None or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    faults.stored(f"cache {path.parent.name}/{path.name}")


def load_cached(path: Path) -> Any | None:
    """The content saved at ``path`` by :func:`save_atomic`, verified against its digest; None
    when there is no file, or it cannot be read, is foreign, has no digest (an older rectbench) or
    does not match it (then one warning says so and the caller rebuilds the entry)."""
    if not path.is_file():
        return None
    try:
        entry = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged cache entry is rebuilt, never fatal
        warnings.warn(f"ignoring unreadable cache file {path} ({exc}); rebuilding it", stacklevel=3)
        return None
    if not isinstance(entry, dict) or entry.get("format") != CHECKED_FORMAT:
        warnings.warn(
            f"ignoring cache file {path}: no checksum (an older rectbench or a foreign file); "
            "rebuilding it", stacklevel=3,
        )
        return None
    try:
        actual = content_digest(entry.get("content"))
    except TypeError as exc:
        actual = f"unverifiable ({exc})"
    if actual != entry.get("sha256"):
        warnings.warn(
            f"ignoring damaged cache file {path}: its content does not match its SHA-256 checksum "
            "(a changed bit on disk or a broken copy); rebuilding it", stacklevel=3,
        )
        return None
    return entry["content"]
