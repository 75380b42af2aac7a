"""Console progress of a run: tqdm bars on an interactive terminal, plain lines in a log.

In a log (stderr is not a TTY: CI, ``nohup``, ``| tee``) a bar that redraws itself leaves cursor
movements and carriage returns in the file. :class:`LineBar` prints instead one line per finished
step (inner bars, ``leave=False``, only a line per ``min_interval`` seconds of work) and nothing
else; :class:`StageLog`, passed as the run's ``echo``, adds the elapsed time and an overall ETA
to each stage's line, scaling the stored estimates of the remaining stages by how the finished
ones compared with theirs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TextIO

__all__ = ["LineBar", "StageLog", "format_duration", "is_interactive", "progress_bar"]


def is_interactive(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (default stderr, where tqdm draws) is a terminal that can redraw."""
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    return bool(isatty is not None and isatty()) and os.environ.get("TERM") != "dumb"


def format_duration(seconds: float) -> str:
    """``"45 s"``, ``"12 min"``, ``"2 h 05 min"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class LineBar:
    """A tqdm stand-in for logs: ``update``/``close``/iteration, one plain line per finished step.

    Args:
        iterable: Iterated over (its length is the total when it has one).
        total: Number of steps (for an ETA); None when unknown.
        initial: Steps already done (a resumed run).
        desc: Printed at the start of each line.
        leave: False for inner loops: their lines are throttled to one per ``min_interval``.
        echo: Where lines go.
        min_interval: Seconds between two lines of an inner bar.
        clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(
        self, iterable: Iterable[Any] | None = None, *, total: int | None = None,
        initial: int = 0, desc: str = "", leave: bool = True,
        echo: Callable[[str], None] = print, min_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.n, self.desc, self.leave = total, initial, desc, leave
        self._initial, self._echo, self._min_interval, self._clock = initial, echo, min_interval, clock
        self._start = self._last_line = clock()
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        for item in self.iterable or ():
            yield item
            self.update(1)
        self.close()

    def __enter__(self) -> LineBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` finished steps and print a line; an inner bar only when ``min_interval``
        has passed since its last line (its outer bar reports when it is done)."""
        self.n += n
        now = self._clock()
        if self.leave or now - self._last_line >= self._min_interval:
            self._line(now)

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        """Accepted for tqdm compatibility; a log line carries no postfix."""

    def close(self) -> None:
        self._closed = True

    def _line(self, now: float) -> None:
        self._last_line = now
        elapsed = now - self._start
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        text = f"{self.desc}: {count}" if self.desc else count
        done = self.n - self._initial
        if self.total and done > 0 and self.n < self.total:
            eta = elapsed / done * (self.total - self.n)
            text += f" · {format_duration(elapsed)} elapsed · ETA {format_duration(eta)}"
        else:
            text += f" · {format_duration(elapsed)}"
        self._echo(text)


def progress_bar(
    iterable: Iterable[Any] | None = None, *, enabled: bool, echo: Callable[[str], None],
    desc: str = "", total: int | None = None, initial: int = 0, leave: bool = True,
    stream: TextIO | None = None,
) -> Any:
    """A tqdm bar on an interactive ``stream`` (default stderr), else a :class:`LineBar` writing
    to ``echo``; a silent bar when not ``enabled``."""
    if enabled and is_interactive(stream):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, initial=initial, desc=desc, leave=leave,
                    dynamic_ncols=True, file=stream)
    silent: Callable[[str], None] = echo if enabled else (lambda text: None)
    return LineBar(iterable, total=total, initial=initial, desc=desc, leave=leave, echo=silent)


#: Seconds of prior weight given to the estimates when finished stages rescale the rest.
_PRIOR_SECONDS = 60.0


class StageLog:
    """The run's ``echo``: prints each line; a stage's start (``"[name]"``, as
    ``bench.pipeline.run_stages`` announces it) gets the run's elapsed time and an overall ETA.

    Args:
        estimates: Predicted seconds per stage, in run order (the ``estimates`` table); without
            them no ETA is printed.
        write: Where lines go.
        clock: Seconds, monotonic.
    """

    def __init__(self, estimates: Mapping[str, float] | None = None, *,
                 write: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.set_estimates(estimates or {})
        self._write, self._clock = write, clock
        self._start = clock()
        self._current: tuple[str, float] | None = None
        self.done: dict[str, float] = {}

    def __call__(self, text: str) -> None:
        stripped = text.strip()
        if not (stripped.startswith("[") and stripped.endswith("]") and " " not in stripped):
            self._write(text)
            return
        now = self._clock()
        if self._current is not None:
            name, started = self._current
            self.done[name] = now - started
        self._current = (stripped[1:-1], now)
        parts = [text, f"{format_duration(now - self._start)} elapsed"]
        eta = self.eta(now)
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        self._write(" · ".join(parts))

    def set_estimates(self, estimates: Mapping[str, float]) -> None:
        """Use ``estimates`` (seconds per stage) from now on; the run's ``estimates`` stage calls
        this when it has measured the machine."""
        self.estimates = {k: float(v) for k, v in estimates.items() if k not in ("report", "total")}

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left: the estimates of the stages not finished, scaled by (actual + 60 s) /
        (estimated + 60 s) of the finished ones, less the time spent in the current stage; None
        without estimates."""
        if not self.estimates:
            return None
        now = self._clock() if now is None else now
        finished = [s for s in self.done if s in self.estimates]
        estimated = sum(self.estimates[s] for s in finished)
        # A minute of prior weight on the estimates: a 2 s stage that took 12 s (decoding on a
        # cold cache) must not multiply hours of training by 6.
        scale = (sum(self.done[s] for s in finished) + _PRIOR_SECONDS) / (estimated + _PRIOR_SECONDS)
        left = sum(v for s, v in self.estimates.items() if s not in self.done) * scale
        if self._current is not None and self._current[0] in self.estimates:
            left -= now - self._current[1]
        return max(0.0, left)
