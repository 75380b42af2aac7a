"""A small but realistic result store, written through ``bench.store.ResultStore``.

Four methods, four per-image metrics (one of them higher-is-better), ROAR AUC / KAR AOC from two
seeds, per-image values whose stored medians are the numbers in ``MEDIANS``, ROAR/KAR cells whose
curve areas are the stored ``RETRAINING`` scores, stage times, and a two-image gallery (one image
with a mask, one without).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

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
LABELS = {"saliency": "Saliency Map", "grad_x_input": "Gradient * Input", "rectgrad": "RectGrad",
          "random": "Random", "rectgrad_prr": "RectGrad PRR", "guided_backprop": "Guided BP"}
#: The display order of the metrics (the order the runner stores them in).
METRIC_ORDER = ("patch_attribution", "background_mass", "total_variation", "roar_auc", "kar_aoc",
                "quantus.Sparseness")
COLORS = {"saliency": "#1f77b4", "rectgrad": "#d62728", "random": "#444444"}

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


def gallery_arrays(
    methods: Sequence[str],
) -> list[tuple[int, int, np.ndarray, np.ndarray | None, dict[str, np.ndarray]]]:
    """Two 3x16x16 images (the first with a square mask), one random map per method and image:
    ``(index, label, image, mask, {method: map})``."""
    rng = np.random.default_rng(0)
    size = GALLERY_SIZE
    mask = np.zeros((size, size), dtype=bool)
    mask[4:12, 4:12] = True
    items = []
    for index, (label, image_mask) in enumerate(((3, mask), (7, None))):
        image = rng.integers(0, 256, size=(3, size, size), dtype=np.uint8)
        maps = {m: rng.normal(size=(size, size)).astype(np.float32) for m in methods}
        items.append((index * 10, label, image, image_mask, maps))
    return items


def _catalog(methods: Sequence[str]) -> tuple[list[dict], list[dict]]:
    method_rows = [
        dict(method=m, label=LABELS.get(m, m), role="chance" if m == "random" else "method",
             color=COLORS.get(m), description="", reference="", settings_json="{}")
        for m in methods
    ]
    metric_rows = [
        dict(metric=m, label=m.replace("_", " "), higher_is_better=int(hib),
             kind="retraining" if m in RETRAINING else "per_image", image_set="test",
             scale_dependent=0, concept=None, description="")
        for m, hib in ((m, DIRECTIONS[m]) for m in METRIC_ORDER)
    ]
    return method_rows, metric_rows


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
    with_stages: bool = True,
) -> Path:
    """Write ``run_dir/results.sqlite`` through ``bench.store.ResultStore`` (appending a run when
    it exists) and return ``run_dir``."""
    from bench.store import ResultStore

    run_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "python": "3.11.2",
        "versions": {"torch": "2.3.1", "captum": "0.7.0", "rectbench": "0.1.0"},
        "device": "cpu (2 threads)",
    }
    with ResultStore(run_dir / "results.sqlite") as store:
        store.begin_run(run_id, preset=preset, dataset=dataset, model="paper_cnn",
                        config_toml=CONFIG_TOML.replace("quick", preset), env=env, started=STARTED)
        store.update_run(run_id, model_accuracy=0.714, finished=STARTED + WALL)
        store.put_catalog(run_id, *_catalog(methods))
        rows = []
        for metric, medians in MEDIANS.items():
            hib = int(DIRECTIONS[metric])
            for method in methods:
                values = per_image_values(medians[method])
                if with_image_scores:
                    store.put_image_scores(run_id, method, metric, values.tolist())
                median = medians[method]
                common = dict(method=method, metric=metric, higher_is_better=hib, n=N_IMAGES)
                rows.append(dict(common, statistic="median", value=median, low=0.9 * median,
                                 high=1.1 * median, interval="bootstrap_images"))
                rows.append(dict(common, statistic="mean", value=float(values.mean())))
        if with_retraining:
            for metric, by_method in RETRAINING.items():
                rows += [
                    dict(method=m, metric=metric, higher_is_better=0, statistic="value",
                         value=by_method[m], low=by_method[m] - 0.01, high=by_method[m] + 0.01,
                         interval="seed_range", n=len(SEEDS))
                    for m in methods
                ]
            for m in methods:
                for mode in ("roar", "kar"):
                    for f in FRACTIONS:
                        for s in SEEDS:
                            store.put_roar_cell(run_id, m, mode, f, s, roar_accuracy(m, mode, f, s))
        store.put_scores(run_id, rows)
        if with_stages:
            for position, (stage, seconds) in enumerate(STAGES):
                store.add_stage_time(run_id, stage, position, seconds)
        if with_gallery:
            items = gallery_arrays(methods)
            for method in methods:
                store.put_gallery(
                    run_id, method, [i[0] for i in items], [i[1] for i in items],
                    np.stack([i[4][method] for i in items]), np.stack([i[2] for i in items]),
                    [i[3] for i in items],
                )
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
        gallery_arrays=gallery_arrays,
    )


@pytest.fixture(scope="session")
def built_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full store's run folder after ``build_report(run_dir, figures=True)``, built once per
    session for the tests that only read the outputs (a build takes seconds on 2 shared cores)."""
    from reports import build_report

    run_dir = write_store(tmp_path_factory.mktemp("built") / "run")
    build_report(run_dir, figures=True)
    return run_dir
