"""The console: the end-of-run table (headline columns, <= 100 characters) and the progress log
of a run whose output is not a terminal (no escape sequences, no carriage returns)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from tqdm import tqdm

from bench.pipeline import RunContext, Stage, run_stages
from bench.progress import LineBar, StageLog, format_duration, is_interactive, progress_bar
from reports import console_leaderboard, load_run


def test_console_table_has_the_headline_columns_only(run_dir: Path) -> None:
    text = console_leaderboard(load_run(run_dir))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert lines[0].split() == ["method", "rank", "Patch", "↓", "Background…", "Noise", "↓",
                                "ROAR", "↓", "KAR", "↓"]
    assert lines[2].split() == ["RectGrad", "1", "0", "*", "10", "*", "3", "*", "0.53", "0.34",
                                "*"]
    assert lines[4].split()[:3] == ["Saliency", "Map", "2.75"] and "0.55 !" in lines[4]
    assert lines[6].split()[:3] == ["Edge", "(Sobel)", "–"] and "*" not in lines[6]
    assert "Sparseness" not in text and "Background fraction" not in text
    assert "ROAR AUC: not resolved at this scale (seed SD 0.015)." in text


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_bar_prints_one_plain_line_per_finished_step() -> None:
    lines: list[str] = []
    clock = _Clock()
    bar = LineBar(range(4), desc="maps", echo=lines.append, clock=clock)
    for _ in bar:
        clock.now += 30.0
    assert lines == ["maps: 1/4 · 30 s elapsed · ETA 2 min", "maps: 2/4 · 60 s elapsed · ETA 60 s",
                     "maps: 3/4 · 2 min elapsed · ETA 30 s", "maps: 4/4 · 2 min"]


def test_inner_bars_are_throttled_and_resumed_counts_start_where_they_stopped() -> None:
    lines: list[str] = []
    clock = _Clock()
    bar = LineBar(total=10, initial=4, desc="cells", leave=False, echo=lines.append,
                  min_interval=10.0, clock=clock)
    for _ in range(6):
        clock.now += 4.0
        bar.update(1)
    # lines at 12 s (7/10) and 24 s (10/10); the ETA counts this run's steps only
    assert lines == ["cells: 7/10 · 12 s elapsed · ETA 12 s", "cells: 10/10 · 24 s"]
    quick: list[str] = []
    inner = LineBar(range(3), desc="batches", leave=False, echo=quick.append, clock=_Clock())
    assert list(inner) == [0, 1, 2] and quick == []  # fast inner loops stay quiet


def test_stage_log_adds_elapsed_time_and_an_eta_from_the_finished_stages() -> None:
    lines: list[str] = []
    clock = _Clock()
    log = StageLog({"data": 10.0, "models": 100.0, "scores": 50.0, "total": 170.0},
                   write=lines.append, clock=clock)
    log("[data]")
    clock.now = 70.0  # data took 70 s for 10 estimated: the rest is scaled by (70 + 60) / (10 + 60)
    log("[models]")
    log("models: done")
    # 160 s estimated at the start; after data (100 + 50) x 130 / 70 = 278.6 s
    assert lines == ["[data] · 0 s elapsed · ETA 3 min", "[models] · 70 s elapsed · ETA 5 min",
                     "models: done"]
    assert log.eta(now=70.0) == pytest.approx(150 * 130 / 70)
    clock.now = 130.0  # a minute into models: 60 s less left
    assert log.eta() == pytest.approx(150 * 130 / 70 - 60)
    assert StageLog(write=lines.append).eta() is None  # no estimates: no ETA


def test_estimates_given_during_the_run_start_the_eta() -> None:
    """The CLI's StageLog starts empty; the run's estimates stage hands it the estimates."""
    lines: list[str] = []
    clock = _Clock()
    log = StageLog(write=lines.append, clock=clock)
    log("[estimates]")
    log.set_estimates({"estimates": 0.0, "data": 30.0, "models": 90.0, "total": 120.0})
    clock.now = 10.0
    log("[data]")
    assert lines == ["[estimates] · 0 s elapsed", "[data] · 10 s elapsed · ETA 2 min"]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 600, 7500)] == ["5 s", "10 min", "2 h 05 min"]


class _Store:
    def __init__(self) -> None:
        self.times: list[tuple[str, int]] = []

    def add_stage_time(self, run_id: str, stage: str, position: int, seconds: float) -> None:
        self.times.append((stage, position))


def test_a_run_logged_to_a_file_has_no_escape_sequences_or_carriage_returns(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The pipeline's stages and bars as they write to a log (pytest's captured stderr is not a
    terminal): plain lines only, one per stage and per finished step."""
    out: list[str] = []
    ctx = RunContext(config=None, out=Path("."), run_id="r", store=_Store(),  # type: ignore[arg-type]
                     model_cache=None, map_cache=None, device=None, executor=None,  # type: ignore[arg-type]
                     echo=StageLog({"one": 1.0, "two": 1.0}, write=out.append), progress=True)

    def one(ctx: RunContext) -> int:
        for _ in ctx.bar(range(3), desc="steps"):
            pass
        inner = ctx.bar(total=2, desc="inner", leave=False)  # quick: no line of its own
        inner.update(2)
        inner.close()
        return 1

    run_stages(ctx, [Stage("one", one, (), "x"), Stage("two", lambda ctx, x: None, ("x",))])
    captured = capsys.readouterr()
    text = "\n".join(out) + captured.out + captured.err
    assert "\x1b" not in text and "\r" not in text
    assert [line.split(" · ")[0] for line in out] == [
        "[one]", "steps: 1/3", "steps: 2/3", "steps: 3/3", "[two]"]
    assert out[-1].split(" · ")[-1].startswith("ETA")


def test_progress_bar_is_tqdm_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not is_interactive(io.StringIO())
    assert isinstance(progress_bar(range(2), enabled=True, echo=print, stream=io.StringIO()),
                      LineBar)
    terminal = Terminal()
    bar = progress_bar(range(2), enabled=True, echo=print, desc="x", stream=terminal)
    assert isinstance(bar, tqdm)
    list(bar)
    silent: list[str] = []
    for _ in progress_bar(range(2), enabled=False, echo=silent.append, stream=terminal):
        pass
    assert silent == []
