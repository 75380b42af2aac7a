"""A run folder holds exactly one run: its marker, its lock, and what rectbench may delete there.

- The marker ``.rectbench-run`` (JSON: ``run_id``, ``preset``, ``schema``, ``rectbench``,
  ``created``) makes a folder a run folder. rectbench writes into a folder only when it is missing,
  empty, or holds the marker; it never writes into, or deletes from, any other folder.
- One run per folder: a rerun of the same configuration resumes; another configuration is refused
  with the folder's run id, unless ``fresh`` replaces the run (its store, caches, reports,
  ``config.toml`` and ``environment.json`` are deleted; other files are left alone).
- The lock ``.rectbench-lock`` (JSON: ``pid``, ``host``, ``since``; held with ``flock``) stops a
  second concurrent run on the same folder with a clear message. The kernel drops the ``flock`` of
  a killed process; the file then names a dead pid, and the next run takes it over with a warning.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from common.schema import SCHEMA_VERSION, STORE_FILENAME

__all__ = [
    "MARKER",
    "LOCK",
    "RunFolderError",
    "RunFolderBusy",
    "RunMarker",
    "read_marker",
    "open_run_folder",
]

MARKER = ".rectbench-run"
LOCK = ".rectbench-lock"
T = TypeVar("T")

#: What rectbench writes into a run folder, and so what ``fresh`` deletes (nothing else).
_OWNED_FILES = (STORE_FILENAME, f"{STORE_FILENAME}-wal", f"{STORE_FILENAME}-shm",
                f"{STORE_FILENAME}-journal", "config.toml", "environment.json", "report.html",
                "scores.csv", "leaderboard.csv")
_OWNED_FOLDERS = ("cache", "figures")
#: What a folder holds while a run starts in it (lock taken, marker not yet in place): still empty.
_OURS_WHILE_EMPTY = (LOCK, f"{MARKER}.tmp")


class RunFolderError(ValueError):
    """A folder that cannot hold this run (a file, not writable, another run, not a run folder).

    Attributes:
        path: The folder.
        problem: What is wrong with it.
        fix: What to do instead.
    """

    def __init__(self, path: Path, problem: str, fix: str) -> None:
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"run folder {path}: {problem}; {fix}")


class RunFolderBusy(RuntimeError):
    """Another rectbench process is running in the folder (it holds the lock)."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path, self.holder = Path(path), holder
        since = holder.get("since")
        when = time.strftime(" since %Y-%m-%d %H:%M:%S", time.localtime(since)) if since else ""
        self.problem = (f"in use by another rectbench run (pid {holder.get('pid', '?')} on "
                        f"{holder.get('host', '?')}{when})")
        self.fix = (f"wait until it ends, or choose another folder; if no such run is alive, "
                    f"delete {Path(path) / LOCK}")
        super().__init__(f"run folder {path}: {self.problem}; {self.fix}")


@dataclass(frozen=True)
class RunMarker:
    """The content of a run folder's marker file."""

    run_id: str
    preset: str = ""
    schema: int = SCHEMA_VERSION
    rectbench: str = ""
    created: float = 0.0


def read_marker(folder: str | Path) -> RunMarker | None:
    """The folder's marker, or None when it has none.

    Raises:
        RunFolderError: The marker exists but is not a rectbench marker.
    """
    path = Path(folder) / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunMarker(run_id=str(data["run_id"]), preset=str(data.get("preset", "")),
                         schema=int(data.get("schema", 0)), rectbench=str(data.get("rectbench", "")),
                         created=float(data.get("created", 0.0)))
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise RunFolderError(folder, f"its marker {MARKER} is unreadable ({exc})",
                             "delete the folder (or its marker) if it holds nothing you need") from exc


@contextmanager
def open_run_folder(
    folder: str | Path, run_id: str, *, preset: str = "", fresh: bool = False,
    echo: Callable[[str], None] = print,
) -> Iterator[Path]:
    """Make ``folder`` the locked run folder of ``run_id`` for the duration of the block.

    Creates a missing folder; resumes the folder's run when it is ``run_id``; with ``fresh``,
    deletes the folder's run first. Echoes one line saying which of these it did.

    Raises:
        RunFolderError: ``folder`` is a file, cannot be created, is not empty and not a run folder,
            or holds another run and ``fresh`` is False.
        RunFolderBusy: Another process holds the folder's lock.
    """
    folder = Path(folder)
    _usable(folder, "read the folder", lambda: _check_usable(folder, run_id, fresh))  # before writing
    fd = _usable(folder, "create the folder", lambda: _acquire(folder))
    try:
        # again, now that no one else can change it
        previous = _usable(folder, "read the folder", lambda: _check_usable(folder, run_id, fresh))
        _usable(folder, "prepare the folder", lambda: _prepare(folder, run_id, preset, fresh,
                                                               previous, echo))
        yield folder
    finally:
        _release(folder, fd)


def _usable(folder: Path, what: str, action: Callable[[], T]) -> T:
    """``action()``, with an ``OSError`` turned into a :class:`RunFolderError` naming ``folder``."""
    try:
        return action()
    except OSError as exc:
        raise RunFolderError(folder, f"cannot {what} ({exc.strerror or exc})",
                             "choose a folder you can write to") from exc


def _prepare(folder: Path, run_id: str, preset: str, fresh: bool, previous: RunMarker | None,
             echo: Callable[[str], None]) -> None:
    if fresh and previous is not None:
        _discard(folder)
        echo(f"--fresh: discarded run {previous.run_id} in {folder}")
    _remove_temporary_files(folder / "cache")
    if previous is None or fresh:
        _write_marker(folder, RunMarker(run_id, preset, SCHEMA_VERSION, _version(), time.time()))
        echo(f"new run {run_id} in {folder}")
    else:
        echo(f"resuming run {run_id} in {folder} (what is stored there is reused)")


def _check_usable(folder: Path, run_id: str, fresh: bool) -> RunMarker | None:
    """The folder's marker (None: missing or empty folder) after refusing unusable folders."""
    if folder.exists() and not folder.is_dir():
        raise RunFolderError(folder, "is a file, not a folder", "choose a folder for --out")
    for parent in folder.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunFolderError(folder, f"{parent} is a file, so no folder can be made "
                                     "under it", "choose another --out")
            break
    if not folder.exists():
        return None
    marker = read_marker(folder)
    if marker is None:
        others = sorted(p.name for p in folder.iterdir() if p.name not in _OURS_WHILE_EMPTY)
        if others:
            old = " (it holds results of a rectbench run from before run markers)" if (
                STORE_FILENAME in others) else ""
            raise RunFolderError(
                folder, f"is not empty and is not a rectbench run folder (no {MARKER}){old}; "
                "rectbench never writes into or deletes from such a folder",
                "choose a new or empty folder for --out")
        return None
    if marker.run_id != run_id and not fresh:
        raise RunFolderError(
            folder, f"holds run {marker.run_id} (preset {marker.preset or '?'}), and this "
            f"configuration is run {run_id}; a run folder holds one run",
            "rerun with --fresh to replace that run, or choose another --out")
    return marker


# --- the lock --------------------------------------------------------------------------------------


def _acquire(folder: Path) -> int:
    """Create ``folder`` and take its lock; the lock file's descriptor (see :func:`_release`)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunFolderBusy(folder, holder) from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break  # we hold the lock on the file that is still at ``path``
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file between our open and flock: try again
    try:
        _take_over(folder, _holder(fd))
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    except BaseException:
        os.close(fd)  # a live holder's file stays as it is
        raise
    return fd


def _release(folder: Path, fd: int) -> None:
    try:
        (folder / LOCK).unlink(missing_ok=True)
    finally:
        os.close(fd)


def _holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return data if isinstance(data, dict) else {}
    except ValueError:
        return {}


def _take_over(folder: Path, holder: dict[str, Any]) -> None:
    """We hold the flock, so the file's previous holder is gone (or ran on another host)."""
    if not holder:
        return
    pid, host = holder.get("pid"), holder.get("host")
    if host != socket.gethostname():
        raise RunFolderBusy(folder, holder)  # flock does not reach across hosts: trust the file
    if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
        raise RunFolderBusy(folder, holder)
    warnings.warn(f"{folder / LOCK}: taking over the lock of process {pid}, which is no longer "
                  "running (a killed run); its stored work is resumed", stacklevel=4)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- files -----------------------------------------------------------------------------------------


def _discard(folder: Path) -> None:
    for name in _OWNED_FILES:
        (folder / name).unlink(missing_ok=True)
    for name in _OWNED_FOLDERS:
        shutil.rmtree(folder / name, ignore_errors=True)
    (folder / MARKER).unlink(missing_ok=True)


def _remove_temporary_files(cache: Path) -> None:
    """Temporary files a killed writer left (no one else writes while we hold the lock)."""
    if cache.is_dir():
        for path in cache.rglob(".*.tmp"):
            path.unlink(missing_ok=True)


def _write_marker(folder: Path, marker: RunMarker) -> None:
    text = json.dumps(marker.__dict__, indent=2) + "\n"
    tmp = folder / f"{MARKER}.tmp"
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, folder / MARKER)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _version() -> str:
    try:
        return metadata.version("rectbench")
    except metadata.PackageNotFoundError:
        return "unknown"
