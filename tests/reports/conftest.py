"""A small but realistic result store, written with sqlite3 following docs/ARCHITECTURE.md.

Four methods, four per-image metrics (one of them higher-is-better), ROAR AUC / KAR AOC from two
seeds, per-image values whose stored medians are the numbers in ``MEDIANS``, ROAR/KAR cells whose
curve areas are the stored ``RETRAINING`` scores, stage times, and a two-image gallery (one image
with a mask, one without).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

SCHEMA = """
CREATE TABLE runs (run_id TEXT PRIMARY KEY, preset TEXT, dataset TEXT, model TEXT,
                   config_toml TEXT, env_json TEXT, model_accuracy REAL, started REAL,
                   finished REAL);
CREATE TABLE image_scores (run_id TEXT, method TEXT, metric TEXT, image_index INT, value REAL);
CREATE TABLE roar_cells (run_id TEXT, method TEXT, mode TEXT, fraction REAL, seed INT,
                         accuracy REAL);
CREATE TABLE scores (run_id TEXT, method TEXT, metric TEXT, higher_is_better INT, statistic TEXT,
                     value REAL, ci_low REAL, ci_high REAL, n INT);
CREATE TABLE stages (run_id TEXT, stage TEXT, seconds REAL);
CREATE TABLE gallery (run_id TEXT, method TEXT, image_index INT, label INT, map BLOB, image BLOB,
                      mask BLOB, height INT, width INT);
"""

METHODS = ("saliency", "grad_x_input", "rectgrad", "random")

#: Stored median of each per-image metric; higher_is_better per metric in DIRECTIONS.
MEDIANS: dict[str, dict[str, float]] = {
    "patch_attribution": {"saliency": 5.0, "grad_x_input": 4.0, "rectgrad": 1.0, "random": 8.0},
    "background_mass": {"saliency": 30.0, "grad_x_input": 20.0, "rectgrad": 10.0, "random": 40.0},
    "total_variation": {"saliency": 12.0, "grad_x_input": 15.0, "rectgrad": 3.0, "random": 50.0},
    "quantus.Sparseness": {"saliency": 0.3, "grad_x_input": 0.4, "rectgrad": 0.7, "random": 0.1},
}
#: Stored ROAR AUC / KAR AOC (mean over the two seeds' curves).
RETRAINING: dict[str, dict[str, float]] = {
    "roar_auc": {"saliency": 0.55, "grad_x_input": 0.54, "rectgrad": 0.53, "random": 0.556},
    "kar_aoc": {"saliency": 0.44, "grad_x_input": 0.42, "rectgrad": 0.34, "random": 0.444},
}
DIRECTIONS = {
    "patch_attribution": False,
    "background_mass": False,
    "total_variation": False,
    "quantus.Sparseness": True,
    "roar_auc": False,
    "kar_aoc": False,
}
N_IMAGES = 11
FRACTIONS = (0.1, 0.5, 0.9)
SEEDS = (0, 1)
GALLERY_SIZE = 16
STAGES = (
    ("data", 1.5),
    ("train", 600.0),
    ("attribute", 30.25),
    ("metrics", 20.0),
    ("roar", 582.75),
)
STARTED = 1_700_000_000.0
WALL = 1234.5

CONFIG_TOML = """preset = "quick"
seed = 0
device = "cpu"

[data]
name = "cifar10"
subset_seed = 3

[roar]
fractions = [0.1, 0.5, 0.9]
seeds = [0, 1]
"""


def per_image_values(median: float) -> np.ndarray:
    """Skewed per-image values (mean != median) whose median is exactly ``median``."""
    return median * np.exp(0.3 * (np.arange(N_IMAGES) - N_IMAGES // 2))


def roar_accuracy(method: str, mode: str, fraction: float, seed: int) -> float:
    """Linear curves: the mean over seeds has area RETRAINING[...] over [0.1, 0.9]."""
    offset = -0.01 if seed == 0 else 0.01
    if mode == "roar":
        slope = (0.75 - RETRAINING["roar_auc"][method]) / 0.5  # mean height = 0.75 - 0.5 * slope
        return 0.75 - slope * fraction + offset
    slope = (1.0 - RETRAINING["kar_aoc"][method] - 0.3) / 0.5
    return 0.3 + slope * fraction + offset


def gallery_rows(run_id: str, methods: Sequence[str]) -> list[tuple[object, ...]]:
    """Two 3x16x16 images (the first with a square mask), one random map per method and image."""
    rng = np.random.default_rng(0)
    size = GALLERY_SIZE
    mask = np.zeros((size, size), dtype=bool)
    mask[4:12, 4:12] = True
    rows = []
    for index, (label, image_mask) in enumerate(((3, mask), (7, None))):
        image = rng.integers(0, 256, size=(3, size, size), dtype=np.uint8)
        for method in methods:
            attribution = rng.normal(size=(size, size)).astype(np.float32)
            rows.append(
                (
                    run_id,
                    method,
                    index * 10,
                    label,
                    attribution.tobytes(),
                    image.tobytes(),
                    None if image_mask is None else image_mask.astype(np.uint8).tobytes(),
                    size,
                    size,
                )
            )
    return rows


def write_store(
    run_dir: Path,
    *,
    run_id: str = "quick-0001",
    preset: str = "quick",
    dataset: str = "cifar10",
    methods: Sequence[str] = METHODS,
    with_image_scores: bool = True,
    with_retraining: bool = True,
    with_gallery: bool = True,
    create_optional_tables: bool = True,
) -> Path:
    """Write ``run_dir/results.sqlite`` (appending a run when it exists) and return ``run_dir``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.sqlite"
    fresh = not path.exists()
    con = sqlite3.connect(path)
    with con:
        if fresh:
            schema = (
                SCHEMA
                if create_optional_tables
                else "\n".join(
                    s + ";" for s in SCHEMA.split(";") if "TABLE runs" in s or "TABLE scores" in s
                )
            )
            con.executescript(schema)
        env = {
            "python": "3.11.2",
            "versions": {"torch": "2.3.1", "captum": "0.7.0", "rectbench": "0.1.0"},
            "device": "cpu (2 threads)",
        }
        con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                preset,
                dataset,
                "paper_cnn",
                CONFIG_TOML.replace("quick", preset),
                json.dumps(env),
                0.714,
                STARTED,
                STARTED + WALL,
            ),
        )
        for metric, medians in MEDIANS.items():
            hib = int(DIRECTIONS[metric])
            for method in methods:
                values = per_image_values(medians[method])
                if with_image_scores:
                    con.executemany(
                        "INSERT INTO image_scores VALUES (?, ?, ?, ?, ?)",
                        [(run_id, method, metric, i, float(v)) for i, v in enumerate(values)],
                    )
                median = medians[method]
                con.executemany(
                    "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            method,
                            metric,
                            hib,
                            "median",
                            median,
                            0.9 * median,
                            1.1 * median,
                            N_IMAGES,
                        ),
                        (
                            run_id,
                            method,
                            metric,
                            hib,
                            "mean",
                            float(values.mean()),
                            None,
                            None,
                            N_IMAGES,
                        ),
                    ],
                )
        if with_retraining:
            for metric, by_method in RETRAINING.items():
                con.executemany(
                    "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            run_id,
                            m,
                            metric,
                            0,
                            "value",
                            by_method[m],
                            by_method[m] - 0.01,
                            by_method[m] + 0.01,
                            len(SEEDS),
                        )
                        for m in methods
                    ],
                )
            con.executemany(
                "INSERT INTO roar_cells VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, m, mode, f, s, roar_accuracy(m, mode, f, s))
                    for m in methods
                    for mode in ("roar", "kar")
                    for f in FRACTIONS
                    for s in SEEDS
                ],
            )
        if create_optional_tables:
            con.executemany(
                "INSERT INTO stages VALUES (?, ?, ?)", [(run_id, s, t) for s, t in STAGES]
            )
        if with_gallery:
            con.executemany(
                "INSERT INTO gallery VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                gallery_rows(run_id, methods),
            )
    con.close()
    return run_dir


@pytest.fixture
def store_writer() -> Callable[..., Path]:
    """:func:`write_store`, for tests that need a store of another shape."""
    return write_store


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder holding the full store described in this module's docstring."""
    return write_store(tmp_path / "run")


@pytest.fixture
def facts() -> SimpleNamespace:
    """The fixture store's constants (test modules cannot import conftest under importlib mode)."""
    return SimpleNamespace(
        METHODS=METHODS,
        MEDIANS=MEDIANS,
        RETRAINING=RETRAINING,
        DIRECTIONS=DIRECTIONS,
        N_IMAGES=N_IMAGES,
        FRACTIONS=FRACTIONS,
        SEEDS=SEEDS,
        STAGES=STAGES,
        GALLERY_SIZE=GALLERY_SIZE,
        WALL=WALL,
        per_image_values=per_image_values,
        gallery_rows=gallery_rows,
    )


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full store's run folder after ``build_report(run_dir, figures=True)``, built once per
    session for the tests that only read the outputs (a build takes seconds on 2 shared cores)."""
    from reports import build_report

    run_dir = write_store(tmp_path_factory.mktemp("built") / "run")
    build_report(run_dir, figures=True)
    return run_dir
