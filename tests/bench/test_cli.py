"""The rectbench command line: listings, presets as TOML, errors, a run from a config file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunConfig
from bench.presets import get_preset


def test_help_lists_every_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.cli", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("methods", "metrics", "models", "presets", "run", "report", "leaderboard"):
        assert command in out


def test_methods_lists_every_registered_method_with_its_description(capsys: pytest.CaptureFixture[str]) -> None:
    from methods import METHODS

    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == METHODS.names()
    assert all(METHODS.get(line.split()[0]).description in line for line in lines)


def test_metrics_lists_directions(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    assert "total_variation" in out and "lower is better" in out


def test_presets_show_prints_the_resolved_toml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "quick"]) == 0
    assert RunConfig.from_toml(capsys.readouterr().out) == get_preset("quick")


def test_unknown_preset_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "fast"]) == 2
    assert "unknown preset 'fast'; valid names: smoke, quick, roar, paper" in capsys.readouterr().err


def test_missing_data_path_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--preset", "smoke", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 2
    assert f"--data {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_run_overrides_reach_the_config(tmp_path: Path) -> None:
    from bench.cli import build_parser
    from bench.cli_run import resolve_config

    args = build_parser().parse_args(["run", "--preset", "smoke", "--methods", "saliency, rectgrad",
                                      "--metrics", "total_variation", "--seed", "3", "--device", "cpu"])
    config = resolve_config(args)
    assert config.methods == ("saliency", "rectgrad") and config.metrics == ("total_variation",)
    assert config.seed == 3 and config.preset == "smoke"


@pytest.mark.slow
def test_config_round_trip_show_file_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets", "show", "smoke"]) == 0
    text = capsys.readouterr().out
    text = text.replace("n_train = 1200", "n_train = 300").replace("n_test = 200", "n_test = 60")
    config_file = tmp_path / "mine.toml"
    config_file.write_text(text)
    out = tmp_path / "run"
    code = main(["run", "--config", str(config_file), "--out", str(out), "--methods", "saliency,rectgrad",
                 "--metrics", "total_variation,background_fraction", "--no-progress", "--no-report"])
    assert code == 0
    stored = RunConfig.from_file(out / "config.toml")
    assert stored.data.n_train == 300 and stored.methods == ("saliency", "rectgrad")
    assert (out / "results.sqlite").is_file()
