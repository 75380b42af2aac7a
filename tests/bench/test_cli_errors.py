"""User errors print one line naming the argument and the fix (issue 11, cases 5 and 7): exit code 2
for usage errors, 1 for failures, the traceback only with --debug."""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.config import RunConfig

RUN = ("--no-progress", "--no-report")
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    """The one line on stderr (fails when there are several, e.g. a traceback)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, "\n".join(lines)
    assert lines[0].startswith("rectbench: error: "), lines[0]
    return lines[0]


def _toml(tmp_path: Path, config: RunConfig) -> str:
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml())
    return str(path)


# --- case 5: tracebacks and unclear messages -------------------------------------------------------


def test_out_naming_a_file_or_a_path_under_a_file(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    assert main(["run", "--config", str(small_run_toml), "--out", str(file), *RUN]) == 2
    assert f"--out {file}: is a file, not a folder; choose a folder" in _error(capsys)
    assert main(["run", "--config", str(small_run_toml), "--out", str(file / "sub"), *RUN]) == 2
    assert f"--out {file / 'sub'}: {file} is a file" in _error(capsys)
    assert file.read_text() == "x"


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux /sys")
def test_out_under_sys(small_run_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", str(small_run_toml), "--out", "/sys/rectbench-run", *RUN]) == 2
    assert "--out /sys/rectbench-run: cannot create the folder (" in _error(capsys)


@pytest.mark.parametrize(("section", "values", "setting"), [
    ("evaluation", {"n_images": -5}, "evaluation.n_images"),
    ("evaluation", {"batch_size": 0}, "evaluation.batch_size"),
])
def test_bad_numbers_in_a_config_file_name_the_setting(
    tmp_path: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str],
    section: str, values: dict[str, Any], setting: str,
) -> None:
    config = replace(small_run, methods=("saliency",))
    config = replace(config, **{section: replace(getattr(config, section), **values)})
    path = _toml(tmp_path, config)
    assert main(["run", "--config", path, "--out", str(tmp_path / "o"), *RUN]) == 2
    line = _error(capsys)
    assert line.startswith(f"rectbench: error: {setting} (in --config {path}): must be an integer")
    assert not (tmp_path / "o").exists()


def test_a_twenty_digit_seed_names_the_option(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = "12345678901234567890"
    assert main(["run", "--config", str(small_run_toml), "--seed", seed, "--out",
                 str(tmp_path / "o"), *RUN]) == 2
    assert f"--seed {seed}: must be an integer in 0..4294967295" in _error(capsys)


def test_debug_adds_the_traceback(tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--debug", "--config", str(small_run_toml), "--seed", "-1", "--out",
                 str(tmp_path / "o"), *RUN]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rectbench: error: --seed -1: ") and "Traceback (most recent call last)" in err


def _disk_full(obj: object, f: Any, *args: object, **kwargs: object) -> None:
    """A writer that fills the disk: some bytes land in the file, then ENOSPC."""
    if isinstance(f, (str, os.PathLike)):
        Path(f).write_bytes(b"partial")
    else:
        f.write(b"partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.slow
def test_disk_full_is_one_line_exit_1_and_leaves_no_temporary_file(
    tmp_path: Path, small_run: RunConfig, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _toml(tmp_path, replace(small_run, methods=("saliency",)))
    out = tmp_path / "o"
    monkeypatch.setattr(torch, "save", _disk_full)
    assert main(["run", "--config", path, "--out", str(out), *RUN]) == 1
    line = _error(capsys)
    assert "(No space left on device); free disk space, then rerun the same command" in line
    assert f"cannot write {out / 'cache'}" in line
    assert [p.name for p in out.rglob("*") if p.is_file() and "tmp" in p.name] == []


# --- case 7: smaller ---------------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--methods", "--metrics"])
@pytest.mark.parametrize("value", ["", " , "])
def test_empty_name_lists_are_errors_not_all(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    out = tmp_path / "o"
    assert main(["run", "--config", str(small_run_toml), flag, value, "--out", str(out), *RUN]) == 2
    assert f"{flag} {value!r} names nothing; name at least one" in _error(capsys)
    assert not out.exists()


def test_masks_on_synthetic_data_is_an_error(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masks = tmp_path / "CIFAR10_mask.tar"
    masks.write_bytes(b"x")
    assert main(["run", "--config", str(small_run_toml), "--masks", str(masks), "--out",
                 str(tmp_path / "o"), *RUN]) == 2
    assert f"--masks {masks}: only CIFAR-10 runs read the authors' masks" in _error(capsys)
    assert not (tmp_path / "o").exists()


def test_empty_out_is_an_error(
    tmp_path: Path, small_run_toml: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--config", str(small_run_toml), "--out", "", *RUN]) == 2
    assert "--out is empty; give a folder" in _error(capsys)
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def finished_run(
    tmp_path_factory: pytest.TempPathFactory, small_run: RunConfig, one_torch_thread: None
) -> Path:
    from bench.runner import run_benchmark

    out = tmp_path_factory.mktemp("board") / "run"
    run_benchmark(replace(small_run, methods=("saliency", "rectgrad")), out, progress=False,
                  echo=lambda _: None)
    return out


@pytest.mark.slow
def test_leaderboard_out_naming_a_file(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "board.csv"
    file.write_text("x")
    assert main(["leaderboard", str(finished_run), "--out", str(file)]) == 2
    assert f"--out '{file}' is not a folder" in _error(capsys)
    assert main(["leaderboard", str(finished_run), "--out", str(finished_run)]) == 2
    assert "is a run folder" in _error(capsys)


@pytest.mark.slow
def test_leaderboard_reads_a_folder_given_twice_once(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    same = str(finished_run / ".." / finished_run.name)
    assert main(["leaderboard", str(finished_run), same, "--out", str(tmp_path)]) == 0
    assert "is given more than once; its runs are read once" in capsys.readouterr().err
    board = pd.read_csv(tmp_path / "leaderboard.csv")
    assert sorted(board["method"]) == ["rectgrad", "saliency"]


@pytest.mark.slow
def test_leaderboard_warns_about_a_run_without_scores(
    finished_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.store import ResultStore

    empty = tmp_path / "empty"  # a run that stopped before its summary: no scores stored
    with ResultStore(empty / "results.sqlite") as store:
        store.begin_run("0123456789abcdef", preset="small", dataset="synthetic", model="paper_cnn",
                        config_toml="", env={}, started=1.0)
    assert main(["leaderboard", str(finished_run), str(empty), "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert f"run 0123456789abcdef in {empty} stored no scores" in err and "left out" in err
    assert len(pd.read_csv(tmp_path / "b" / "leaderboard.csv")) == 2
    con = sqlite3.connect(empty / "results.sqlite")
    assert con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 0
    con.close()
