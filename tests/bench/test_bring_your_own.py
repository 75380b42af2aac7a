"""The README's worked example, end to end (issue 13): a package of the user's own, with a
``rectbench.methods`` entry point, a model and its saved weights, and a 12-image ImageFolder with
PNG masks, is copied out of README.md, pip-installed (offline, into a folder on PYTHONPATH) and
run with ``rectbench run --config user.toml``, as a user would.

Checked: the entry point's method is listed, run, shown in the leaderboard and the report; the
model is loaded from the weights, not trained (no model cache), and the run records the weights'
SHA-256; the background metric of the user's method equals the value computed here from the PNG
files alone, image by image (so the run read the masks, the images and the model's declared
[0, 1] input as the files say).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_FILE = re.compile(r"<!-- byo-example: (\S+) -->\n```\w*\n(.*?)```", re.S)
_CHANNEL = {"red": 0, "green": 1, "blue": 2}


def readme_files() -> dict[str, str]:
    """The example's files, by path, as README.md shows them."""
    return {m.group(1): m.group(2) for m in _FILE.finditer((ROOT / "README.md").read_text())}


class Project:
    """The example's project folder and how to run a command in it."""

    def __init__(self, folder: Path, site: Path, cache: Path) -> None:
        self.folder, self.site, self.cache = folder, site, cache

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(self.site)]),
                   RECTBENCH_CACHE=str(self.cache), OMP_NUM_THREADS="1")
        return subprocess.run([sys.executable, *args], cwd=self.folder, env=env, text=True,
                              capture_output=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("byo")
    folder = base / "colourbench"
    files = readme_files()
    assert set(files) == {"pyproject.toml", "colourbench/__init__.py", "colourbench/methods.py",
                          "colourbench/model.py", "make_data.py", "user.toml"}
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    made = Project(folder, base / "site", base / "cache")
    result = made.run("make_data.py")
    assert result.returncode == 0, result.stderr
    install = made.run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                       "--no-cache-dir", "--quiet", "--target", str(made.site), str(folder))
    assert install.returncode == 0, install.stderr
    assert (made.site / "colourbench-0.1.0.dist-info" / "entry_points.txt").is_file()
    return made


def _expected_background_fraction(data: Path) -> list[float]:
    """Per masked image, in the run's order (class, then name): the share of ColourEvidence off
    the PNG mask. For ColourNet's weights the gradient of a class's logit is 10 / (H W) on its
    colour channel where x > 0.5 and zero elsewhere, so gradient x input is that x there."""
    shares = []
    for colour in sorted(_CHANNEL):
        for image in sorted((data / "test" / colour).glob("*.png")):
            x = np.asarray(Image.open(image), dtype=np.float64)[..., _CHANNEL[colour]] / 255
            mask = np.asarray(Image.open(data / "masks" / colour / image.name)) > 0
            evidence = x * (x > 0.5)
            shares.append(float(evidence[~mask].sum() / evidence.sum()))
    return shares


def test_the_readme_example_runs_end_to_end(project: Project) -> None:
    listing = project.run("-m", "bench.cli", "methods")
    assert listing.returncode == 0, listing.stderr
    assert re.search(r"^colour_evidence +Gradient x input of the target logit", listing.stdout, re.M)

    start = time.perf_counter()
    result = project.run("-m", "bench.cli", "run", "--config", "user.toml", "--out",
                         "runs/colourbench", "--no-progress")
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr[-3000:]
    print(f"README example: rectbench run took {seconds:.1f} s")
    out = project.folder / "runs" / "colourbench"
    assert "clean model loaded from" in result.stdout and "not trained" in result.stdout
    assert "masked images: 12 correctly classified of 12" in result.stdout
    board_text = result.stdout.split("report:")[-1]  # the console leaderboard after the run
    assert re.search(r"^(colour_evidence|Colour evidence) ", board_text, re.M)
    assert not (out / "cache" / "models").exists()  # nothing trained, nothing cached

    weights_sha = hashlib.sha256((project.folder / "weights.pt").read_bytes()).hexdigest()
    con = sqlite3.connect(out / "results.sqlite")
    try:
        dataset, model, env = con.execute("SELECT dataset, model, env_json FROM runs").fetchone()
        stages = dict(con.execute("SELECT stage, seconds FROM stages"))
        shares = [v for (v,) in con.execute(
            "SELECT value FROM image_scores WHERE method='colour_evidence' AND "
            "metric='background_fraction' ORDER BY image_index")]
    finally:
        con.close()
    assert model == f"colourbench.model:colour_net@{weights_sha[:12]}"
    assert json.loads(env)["weights"]["sha256"] == weights_sha
    assert re.fullmatch(r"data@[0-9a-f]{12}", dataset)
    assert stages["models"] < 5.0  # loaded, not trained
    assert shares == pytest.approx(_expected_background_fraction(project.folder / "data"),
                                   abs=1e-5)

    html = (out / "report.html").read_text()
    assert "Colour evidence" in html and 'data-method="colour_evidence"' in html
    board = project.run("-m", "bench.cli", "leaderboard", "runs/colourbench", "--out", "board")
    assert board.returncode == 0, board.stderr
    assert "colour_evidence" in (project.folder / "board" / "leaderboard.csv").read_text()
