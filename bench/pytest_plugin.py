"""A pytest plugin that pins attribution methods: scores on a fixed case, compared with golden files.

Installed with rectbench (``pytest11`` entry point), so any project that installs it has:

- ``rectbench_case`` (session): a small deterministic :class:`BenchmarkCase` — a PaperCNN trained
  on the synthetic shapes with the paper's random patch, test images, labels, exact foreground
  masks and the patch box — built once and cached on disk (``rectbench_cache_dir`` ini option,
  default ``~/.cache/rectbench/pytest``).
- ``rectbench_evaluate``: ``evaluate(method, metrics=None) -> dict[str, float]``, each metric's
  mean over the case's images. ``method``: a registry name, a Captum attribution class, or a
  callable ``model -> attribution object`` (anything with ``attribute(inputs, target=...)``).
- ``rectbench_golden``: ``golden(name, scores, rtol=1e-3, atol=1e-6)`` compares with
  ``<rectbench_golden_dir>/<name>.json`` (ini option, default ``tests/golden``, relative to the
  rootdir); ``--rectbench-update-golden`` writes the file instead.

Options: ``--rectbench-device`` (default ``cpu``), ``--rectbench-case-size`` (``small`` or
``medium``), ``--rectbench-update-golden``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

__all__ = ["BenchmarkCase", "CASE_SIZES", "DEFAULT_METRICS", "build_case", "evaluate_method"]

#: The paper's retraining-free metrics, the default of ``rectbench_evaluate``.
DEFAULT_METRICS: tuple[str, ...] = (
    "patch_attribution",
    "background_mass",
    "background_fraction",
    "total_variation",
    "total_variation_normalized",
)

#: name -> (training images, test images evaluated, training epochs)
CASE_SIZES: dict[str, tuple[int, int, int]] = {"small": (1200, 32, 4), "medium": (4000, 128, 6)}

_CASE_SEED = 0


@dataclass(frozen=True)
class BenchmarkCase:
    """A fixed evaluation case.

    Attributes:
        model: PaperCNN in eval mode on ``device``, trained on synthetic shapes whose images all
            carry the paper's 10x10 random patch at the top-left (so attribution in the patch is
            attribution to an irrelevant feature).
        images: Model inputs, float32 (N, 3, 32, 32) in [-1, 1], patch included.
        labels: True classes, int64 (N,).
        targets: The model's predicted classes (the paper's attribution target), int64 (N,).
        masks: Exact object masks, bool (N, 32, 32), False under the patch.
        patch_box: ``(top, left, height, width)`` scored by patch attribution.
        accuracy: The model's accuracy on the case's images.
    """

    model: Any
    images: Any
    labels: Any
    targets: Any
    masks: Any
    patch_box: tuple[int, int, int, int]
    accuracy: float


def build_case(size: str = "small", device: str = "cpu", cache_dir: str | Path | None = None) -> BenchmarkCase:
    """Build (or load from the on-disk model cache) the case of the given size."""
    import torch

    from bench.data import add_patch, make_patch, make_synthetic, to_model_input
    from bench.training import ModelCache, TrainRecipe, predict, train_or_load
    from metrics import scored_patch_box

    if size not in CASE_SIZES:
        raise ValueError(f"case size must be one of {sorted(CASE_SIZES)}, got {size!r}")
    n_train, n_test, epochs = CASE_SIZES[size]
    train, test = make_synthetic(n_train, n_test, seed=_CASE_SEED)
    patch = make_patch(_CASE_SEED)
    train = replace(train, images=add_patch(train.images, patch))
    test = replace(test, images=add_patch(test.images, patch))
    root = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "rectbench" / "pytest"
    recipe = TrainRecipe(epochs=epochs, batch_size=50, lr=1e-3)
    model, info = train_or_load(ModelCache(root), "paper_cnn", train.images, train.labels,
                                test.images, test.labels, recipe, _CASE_SEED,
                                num_classes=train.num_classes, device=torch.device(device),
                                progress=False)
    model = model.to(device).eval()
    masks = test.masks.clone()
    size_p = patch.shape[-1]
    masks[:, :size_p, :size_p] = False
    targets = predict(model, test.images, device=torch.device(device)).to(device)
    return BenchmarkCase(
        model=model,
        images=to_model_input(test.images).to(device),
        labels=test.labels.to(device),
        targets=targets,
        masks=masks.to(device),
        patch_box=scored_patch_box(size_p),
        accuracy=float(info["test_accuracy"]),
    )


def evaluate_method(case: BenchmarkCase, method: Any, metrics: Sequence[str] | None = None) -> dict[str, float]:
    """Each metric's mean over ``case``'s images for ``method`` (see ``rectbench_evaluate``)."""
    import torch

    from methods import METHODS, create_method, to_map
    from metrics import METRICS, MetricInputs, summarize

    names = tuple(metrics) if metrics is not None else DEFAULT_METRICS
    specs = [METRICS.get(name) for name in names]
    for spec in specs:
        if spec.kind != "per_image":
            raise ValueError(f"metric {spec.name!r} needs retraining; rectbench_evaluate takes per-image metrics")
    map_percentile: float | None = None
    if isinstance(method, str):
        attributor = create_method(method, case.model)
        map_percentile = METHODS.get(method).map_percentile
    elif isinstance(method, type) or callable(method):
        attributor = method(case.model)
    else:
        raise ValueError(f"method must be a registry name, an attribution class or a callable, got {method!r}")
    if not hasattr(attributor, "attribute"):
        raise ValueError(f"{method!r} did not give an object with an attribute() method")
    torch.manual_seed(_CASE_SEED)
    attributions = attributor.attribute(case.images, target=case.targets)
    if not isinstance(attributions, torch.Tensor) or attributions.shape != case.images.shape:
        raise ValueError(f"attribute() must return a tensor shaped like the images {tuple(case.images.shape)}")
    maps = to_map(attributions.detach(), final_threshold_percentile=map_percentile)

    def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return attributor.attribute(inputs, target=target).detach()

    inputs = MetricInputs(maps=maps, model=case.model, images=case.images, labels=case.labels,
                          targets=case.targets, foreground=case.masks, patch_box=case.patch_box,
                          attribute=attribute)
    # The mean, not the leaderboard's median: every image moves it, so drift cannot hide in a 0 median.
    return {spec.name: float(summarize(spec.compute(inputs)).mean) for spec in specs}


# -- pytest hooks ---------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rectbench", "rectbench method regression")
    group.addoption("--rectbench-update-golden", action="store_true", default=False,
                    help="write rectbench golden files instead of comparing with them")
    group.addoption("--rectbench-device", default="cpu", help="device of the rectbench case (default cpu)")
    group.addoption("--rectbench-case-size", default="small", choices=sorted(CASE_SIZES),
                    help="size of the rectbench case (default small)")
    parser.addini("rectbench_golden_dir", "folder of rectbench golden JSON files", default="tests/golden")
    parser.addini("rectbench_cache_dir", "folder caching the rectbench case's trained model", default="")


@pytest.fixture(scope="session")
def rectbench_case(pytestconfig: pytest.Config) -> BenchmarkCase:
    """The session's :class:`BenchmarkCase` (trained once, cached on disk)."""
    cache = pytestconfig.getini("rectbench_cache_dir") or os.environ.get("RECTBENCH_CACHE") or None
    if cache:
        cache = str(Path(pytestconfig.rootpath, cache)) if not Path(cache).is_absolute() else cache
    return build_case(pytestconfig.getoption("rectbench_case_size"),
                      pytestconfig.getoption("rectbench_device"), cache)


@pytest.fixture
def rectbench_evaluate(rectbench_case: BenchmarkCase) -> Callable[..., dict[str, float]]:
    """``evaluate(method, metrics=None) -> dict[str, float]`` on the session's case."""

    def evaluate(method: Any, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return evaluate_method(rectbench_case, method, metrics)

    return evaluate


@pytest.fixture
def rectbench_golden(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``golden(name, scores, rtol=1e-3, atol=1e-6)``: compare ``scores`` with the stored golden file."""
    folder = Path(pytestconfig.rootpath, pytestconfig.getini("rectbench_golden_dir"))
    update = pytestconfig.getoption("rectbench_update_golden")

    def golden(name: str, scores: dict[str, float], rtol: float = 1e-3, atol: float = 1e-6) -> None:
        path = folder / f"{name}.json"
        if update:
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(dict(sorted(scores.items())), indent=2) + "\n")
            return
        if not path.is_file():
            pytest.fail(f"no golden file {path}; run pytest with --rectbench-update-golden to write it",
                        pytrace=False)
        expected = json.loads(path.read_text())
        problems = golden_diff(expected, scores, rtol, atol)
        if problems:
            pytest.fail(f"rectbench golden {name!r} ({path}) differs:\n" + "\n".join(problems)
                        + "\n(run with --rectbench-update-golden if the change is intended)", pytrace=False)

    return golden


def golden_diff(expected: dict[str, float], actual: dict[str, float], rtol: float, atol: float) -> list[str]:
    """Readable lines, one per metric that is missing, new, or outside ``atol + rtol * |expected|``."""
    lines = []
    for metric in sorted(set(expected) | set(actual)):
        if metric not in actual:
            lines.append(f"  {metric}: expected {expected[metric]:.6g}, missing from the scores")
        elif metric not in expected:
            lines.append(f"  {metric}: {actual[metric]:.6g} has no golden value")
        else:
            e, a = float(expected[metric]), float(actual[metric])
            same_nan = math.isnan(e) and math.isnan(a)
            if not same_nan and not abs(a - e) <= atol + rtol * abs(e):
                rel = abs(a - e) / abs(e) if e else math.inf
                lines.append(f"  {metric}: expected {e:.6g}, got {a:.6g} (diff {a - e:+.3g}, {rel:.2%} relative)")
    return lines
