"""The report as a reader sees it: opened in headless Chromium, driven over the DevTools protocol.

The protocol runs over ``--remote-debugging-pipe`` (Chromium reads commands on fd 3 and writes
replies on fd 4, NUL-separated JSON), so the test needs only the standard library. Skips when no
Chromium is installed, except under ``CI=true`` where a missing browser fails the test.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

import reports

# chromium_executable first: skip (or fail under CI) before the session's report is built.
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("chromium_executable")]

_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium binary; skips without one, fails instead when ``CI=true``."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    message = "headless Chromium not installed (apt-get install -y chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " and CI=true requires it")
    pytest.skip(message)


class DevTools:
    """A minimal Chrome DevTools Protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # runs in the child: put the pipe ends on fds 3 and 4
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            preexec_fn=wire_fds,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                return
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + _TIMEOUT
        while True:
            message = self._messages.get(timeout=max(0.1, deadline - time.monotonic()))
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_event(self, method: str) -> dict[str, Any]:
        """Wait for (and return) the first event named ``method``, seen now or later."""
        deadline = time.monotonic() + _TIMEOUT
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._messages.get(timeout=max(0.1, deadline - time.monotonic())))

    def drain(self) -> None:
        """Collect the events already sent."""
        while True:
            try:
                self.events.append(self._messages.get(timeout=0.3))
            except queue.Empty:
                return

    def close(self) -> None:
        try:
            os.write(
                self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
            )
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)


@pytest.fixture
def browser(chromium_executable: str, tmp_path: Path) -> Iterator[DevTools]:
    client = DevTools(chromium_executable, tmp_path / "profile")
    try:
        yield client
    finally:
        client.close()


def _open(browser: DevTools, url: str) -> str:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Page", "Runtime", "Log", "Network"):
        browser.send(f"{domain}.enable", session=session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 1400, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_event("Page.loadEventFired")
    return session


def _evaluate(browser: DevTools, session: str, expression: str) -> Any:
    result = browser.send(
        "Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=session
    )
    return result["result"]["value"]


def _screenshot(browser: DevTools, session: str, name: str) -> bytes:
    """A full-page PNG at 1,280 px; also written to ``$RECTBENCH_SCREENSHOTS/<name>.png`` when
    that variable names a folder (to look at the page by eye)."""
    height = _evaluate(browser, session, "document.documentElement.scrollHeight")
    shot = browser.send(
        "Page.captureScreenshot",
        {"format": "png", "captureBeyondViewport": True,
         "clip": {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}},
        session=session,
    )
    png = base64.b64decode(shot["data"])
    folder = os.environ.get("RECTBENCH_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.png").write_bytes(png)
    return png


def _click(browser: DevTools, session: str, selector: str) -> None:
    """Scroll ``selector``'s element into view and click its centre with the mouse."""
    x, y = _evaluate(browser, session, f"""(() => {{
      const el = document.querySelector({json.dumps(selector)});
      el.scrollIntoView({{block: 'center'}});
      const r = el.getBoundingClientRect();
      return [r.x + r.width / 2, r.y + r.height / 2];
    }})()""")
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent",
                     {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
                     session=session)


_ROW_ORDER = "Array.from(document.querySelectorAll('#headline tbody tr')).map(r => r.dataset.method)"
_FITS = """(() => {
  const page = document.documentElement;
  const table = document.getElementById('headline').getBoundingClientRect();
  const cells = Array.from(document.querySelectorAll('#headline th, #headline td'));
  return {
    page: page.scrollWidth <= window.innerWidth,
    table: table.left >= 0 && table.right <= window.innerWidth,
    cells: cells.every(c => c.getBoundingClientRect().right <= table.right + 0.5
                            && c.scrollWidth <= c.clientWidth + 1),
    width: table.width,
  };
})()"""


def _errors(browser: DevTools) -> list[dict[str, Any]]:
    browser.drain()
    return [
        e for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


def test_report_fits_1280_px_marks_no_control_and_stays_offline(
    built_run: Path, browser: DevTools
) -> None:
    url = (built_run / "report.html").resolve().as_uri()
    session = _open(browser, url)
    fits = _evaluate(browser, session, _FITS)
    assert fits["page"] and fits["table"] and fits["cells"], fits
    # the full table, opened, scrolls inside its own box: the page still does not
    _evaluate(browser, session, "document.getElementById('full').open = true")
    assert _evaluate(browser, session, _FITS)["page"]
    stars = "document.querySelectorAll('{} .star').length"
    assert _evaluate(browser, session, stars.format('tr[data-role="method"]')) > 0
    assert _evaluate(browser, session, stars.format('tr[data-role="control"]')) == 0
    assert _evaluate(browser, session, stars.format('tr[data-role="chance"]')) == 0
    png = _screenshot(browser, session, "report")
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[1] == 1280 and pixels.shape[0] > 3000
    assert float(np.var(pixels[..., :3])) > 0.005, "the screenshot is (nearly) uniform"
    assert _errors(browser) == []
    requested = [e["params"]["request"]["url"] for e in browser.events
                 if e.get("method") == "Network.requestWillBeSent"]
    assert url in requested
    assert [u for u in requested if u != url and not u.startswith("data:")] == []


def test_headline_table_sorts_by_a_clicked_header(built_run: Path, browser: DevTools) -> None:
    """Total variation, lower is better: the first click puts the lowest first (the control's
    1), empty cells (Random) always last; a second click reverses."""
    session = _open(browser, (built_run / "report.html").resolve().as_uri())
    assert _evaluate(browser, session, _ROW_ORDER) == [
        "rectgrad", "grad_x_input", "saliency", "random", "edge_sobel"]
    header = '#headline th[data-col="total_variation"]'
    _click(browser, session, header)
    assert _evaluate(browser, session, _ROW_ORDER) == [
        "edge_sobel", "rectgrad", "saliency", "grad_x_input", "random"]
    _click(browser, session, header)
    assert _evaluate(browser, session, _ROW_ORDER) == [
        "grad_x_input", "saliency", "rectgrad", "edge_sobel", "random"]


def test_a_leaderboard_link_opens_the_run_report(
    tmp_path: Path, store_writer: Any, browser: DevTools
) -> None:
    quick = store_writer(tmp_path / "runs" / "quick", run_id="q1", preset="quick")
    paper = store_writer(tmp_path / "runs" / "paper", run_id="p1", preset="paper",
                         protocol="p-paper")
    for run_dir in (quick, paper):
        reports.build_report(run_dir)
    _, html = reports.build_leaderboard([quick, paper], tmp_path / "out")
    session = _open(browser, html.resolve().as_uri())
    assert _evaluate(browser, session, "document.documentElement.scrollWidth <= innerWidth")
    visible = """Array.from(document.querySelectorAll('table.combined tbody tr'))
        .filter(r => r.style.display !== 'none').map(r => r.dataset.preset)"""
    assert sorted(_evaluate(browser, session, visible)) == ["paper"] * 5 + ["quick"] * 5
    _screenshot(browser, session, "leaderboard")
    _evaluate(browser, session, """(() => { const s = document.getElementById('filter-preset');
        s.value = 'paper'; s.dispatchEvent(new Event('change')); return true; })()""")
    assert _evaluate(browser, session, visible) == ["paper"] * 5
    browser.events.clear()
    _click(browser, session, 'tr[data-preset="paper"] a')
    browser.wait_event("Page.loadEventFired")
    assert _evaluate(browser, session, "location.href") == (paper / "report.html").resolve().as_uri()
    assert _evaluate(browser, session, "document.title").startswith("rectbench report: paper")
    assert _errors(browser) == []
