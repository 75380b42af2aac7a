"""A run folder holds one run (issue 11, cases 1, 3 and 7): the marker, refusing other runs and
foreign folders, --fresh, the lock against concurrent runs, and the report of the folder's run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunConfig, config_hash
from bench.run_folder import (
    LOCK,
    MARKER,
    RunFolderBusy,
    RunFolderError,
    open_run_folder,
    read_marker,
)
from common.schema import SCHEMA_VERSION

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run_id(config: RunConfig) -> str:
    return config_hash(replace(config, device="*"))


def _quiet(_: str) -> None:
    pass


# --- marker and folder checks (no run) -------------------------------------------------------------


def test_a_new_folder_gets_a_marker_naming_its_run_and_the_lock_is_released(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "run"
    lines: list[str] = []
    with open_run_folder(folder, "abc123", preset="smoke", echo=lines.append):
        holder = json.loads((folder / LOCK).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert not (folder / LOCK).exists()
    marker = read_marker(folder)
    assert marker is not None and marker.run_id == "abc123" and marker.preset == "smoke"
    assert marker.schema == SCHEMA_VERSION and marker.rectbench
    assert lines == [f"new run abc123 in {folder}"]
    with open_run_folder(folder, "abc123", echo=lines.append):
        pass
    assert lines[-1].startswith(f"resuming run abc123 in {folder}")


def test_an_empty_folder_is_fine_and_another_run_is_refused_naming_both_ids(tmp_path: Path) -> None:
    with open_run_folder(tmp_path, "first", echo=_quiet):
        pass
    with pytest.raises(RunFolderError, match="holds run first .* run second.*--fresh"):
        with open_run_folder(tmp_path, "second", echo=_quiet):
            pass
    assert read_marker(tmp_path).run_id == "first"  # type: ignore[union-attr]


def test_fresh_deletes_only_what_rectbench_wrote(tmp_path: Path) -> None:
    with open_run_folder(tmp_path, "first", echo=_quiet):
        for name in ("results.sqlite", "config.toml", "report.html", "notes.txt"):
            (tmp_path / name).write_text("x")
        (tmp_path / "cache" / "maps").mkdir(parents=True)
        (tmp_path / "cache" / "maps" / "m.pt").write_text("x")
    lines: list[str] = []
    with open_run_folder(tmp_path, "second", fresh=True, echo=lines.append):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [MARKER, "notes.txt"]
    assert read_marker(tmp_path).run_id == "second"  # type: ignore[union-attr]
    assert lines[0] == f"--fresh: discarded run first in {tmp_path}"


@pytest.mark.parametrize("fresh", [False, True])
def test_a_folder_without_marker_that_is_not_empty_is_never_written(tmp_path: Path, fresh: bool) -> None:
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "mine.txt").write_text("keep")
    with pytest.raises(RunFolderError, match="not a rectbench run folder"):
        with open_run_folder(tmp_path, "abc", fresh=fresh, echo=_quiet):
            pass
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["cache", "mine.txt"]


def test_a_file_and_a_path_under_a_file_are_refused(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        with open_run_folder(file, "abc", echo=_quiet):
            pass
    with pytest.raises(RunFolderError, match="is a file, so no folder can be made under it"):
        with open_run_folder(file / "sub", "abc", echo=_quiet):
            pass


def test_a_start_killed_before_its_marker_leaves_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text("")
    (tmp_path / f"{MARKER}.tmp").write_text("{")
    with open_run_folder(tmp_path, "abc", echo=_quiet):
        pass
    assert read_marker(tmp_path).run_id == "abc"  # type: ignore[union-attr]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_folder_that_cannot_be_written_is_a_folder_error(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(RunFolderError, match="cannot create the folder"):
            with open_run_folder(tmp_path / "run", "abc", echo=_quiet):
                pass
    finally:
        tmp_path.chmod(0o700)


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    with open_run_folder(tmp_path, "abc", echo=_quiet):
        (tmp_path / "cache" / "maps").mkdir(parents=True)
        (tmp_path / "cache" / "maps" / ".k.pt.x1y2.tmp").write_text("torn")
    with open_run_folder(tmp_path, "abc", echo=_quiet):
        assert list((tmp_path / "cache").rglob("*.tmp")) == []


# --- the lock ----------------------------------------------------------------------------------------


def test_a_second_open_of_a_folder_in_use_stops_naming_the_holder(tmp_path: Path) -> None:
    with open_run_folder(tmp_path, "abc", echo=_quiet):
        with pytest.raises(RunFolderBusy, match=f"in use by another rectbench run \\(pid {os.getpid()} on"):
            with open_run_folder(tmp_path, "abc", echo=_quiet):
                pass
        assert (tmp_path / LOCK).exists()  # the refused open did not release the holder's lock


def test_a_stale_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / MARKER).write_text(json.dumps({"run_id": "abc"}))
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with pytest.warns(UserWarning, match=f"taking over the lock of process {dead.pid}"):
        with open_run_folder(tmp_path, "abc", echo=_quiet):
            assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()


def test_a_lock_written_on_another_host_is_respected(tmp_path: Path) -> None:
    (tmp_path / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(RunFolderBusy, match="pid 1 on elsewhere.example"):
        with open_run_folder(tmp_path, "abc", echo=_quiet):
            pass


def test_a_run_on_a_folder_locked_by_this_process_stops_at_once(
    tmp_path: Path, small_run_toml: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    with open_run_folder(out, _run_id(small_run), echo=_quiet):
        code = main(["run", "--config", str(small_run_toml), "--out", str(out), "--no-progress",
                     "--no-report"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith(f"rectbench: error: --out {out}: in use by another rectbench run (pid "
                          f"{os.getpid()}")
    assert len(err.strip().splitlines()) == 1
    assert not (out / "results.sqlite").exists()  # no work was done
