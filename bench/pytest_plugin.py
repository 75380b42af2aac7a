"""A pytest plugin that pins attribution methods: scores on a fixed case, compared with golden files.

Installed with rectbench (``pytest11`` entry point), so any project that installs it has:

- ``rectbench_case`` (session): a small fixed :class:`BenchmarkCase` — a PaperCNN on 16x16 images
  of the synthetic shapes carrying a scaled-down copy of the paper's random patch (5x5 at the
  top-left), with test images, labels, targets and exact foreground masks. Weights and inputs ship
  with the package (``bench/assets``, SHA-256 checked on load), so the case is the same bytes on
  every machine; nothing is trained.
- ``rectbench_evaluate``: ``evaluate(method, metrics=None) -> dict[str, float]``, each metric's
  mean over the case's images. ``method``: a registry name, a Captum attribution class, or a
  callable ``model -> attribution object`` (anything with ``attribute(inputs, target=...)``).
- ``rectbench_golden``: ``golden(name, scores, rtol=None, atol=None)`` compares with
  ``<rectbench_golden_dir>/<name>.json`` (ini option, default ``tests/golden``, relative to the
  rootdir); ``--rectbench-update-golden`` writes the file instead.

Tolerances. The same weights and inputs still give slightly different scores on another CPU:
oneDNN's ISA and the thread count change the order of floating-point sums, and a map pixel close
to a percentile threshold (the baselines' 95th-percentile final threshold, RectGrad's per-layer
threshold) can land on the other side. ``benchmarks/golden_drift.py`` measures both, for every
registered method and default metric: (a) the spread over 16 kernel configurations, each in a fresh
process (``ATEN_CPU_CAPABILITY`` unset/default/avx2/avx512 x ``ONEDNN_MAX_CPU_ISA`` unset/AVX2 x
threads 1/2): at most 4.0e-6 relative (SmoothGrad's background mass); (b) a probe of other CPUs:
every weight scaled by ``1 + 1e-6 z`` (about 8 float32 ulps, more than any kernel configuration
moves the logits), 30 draws: at most 4.2e-5 on whole-map metrics and 5.8e-4 on patch attribution
(a small mass from a few pixels, so one pixel crossing the threshold is a visible step). Rule: per
metric, 10x the larger maximum, rounded up to 1, 2 or 5 x 10^k; ``DEFAULT_RTOL`` is the largest of
these over the whole-map metrics (5e-4; also used for metrics not measured, e.g. ``quantus.*``),
patch attribution has its own 1e-2. A method more sensitive than that passes its own ``rtol``
(SmoothGrad with per-image seeded noise: probe 2.8e-3 on background mass and 3.2e-3 on background
fraction, 5 draws, so the project's golden test gives it 5e-2). ``atol`` (1e-6) only matters for scores that are exactly 0
(Gradient x Input's and DeepLIFT's patch attribution, 0 in every configuration and draw).
Passing ``rtol``/``atol`` to ``golden`` overrides them for every metric of that call.
Measured with torch 2.14 on an x86-64 CPU with AVX-512 (docs/adding-a-method.md has the tables).

Options: ``--rectbench-device`` (default ``cpu``), ``--rectbench-case-size`` (``small``: 32 images,
``medium``: 128), ``--rectbench-case`` (``shipped``, the default, or ``train``: retrain the model
on this machine, cached under ``rectbench_cache_dir``; not reproducible across CPUs),
``--rectbench-update-golden``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "BenchmarkCase",
    "CASE_SIZES",
    "DEFAULT_ATOL",
    "DEFAULT_METRICS",
    "DEFAULT_RTOL",
    "METRIC_TOLERANCES",
    "build_case",
    "evaluate_method",
    "golden_diff",
    "load_case_assets",
    "make_case_assets",
]

#: The paper's retraining-free metrics, the default of ``rectbench_evaluate``.
DEFAULT_METRICS: tuple[str, ...] = (
    "patch_attribution",
    "background_mass",
    "background_fraction",
    "total_variation",
    "total_variation_normalized",
)

#: name -> (training images, test images evaluated, training epochs). One model serves both
#: sizes (the shipped one); the sizes differ in how many of the shipped test images are scored.
CASE_SIZES: dict[str, tuple[int, int, int]] = {"small": (4000, 32, 6), "medium": (4000, 128, 6)}

#: Default golden tolerances: ``|got - expected| <= atol + rtol * |expected|`` (see module doc).
DEFAULT_RTOL = 5e-4
DEFAULT_ATOL = 1e-6
#: metric -> (rtol, atol) where the measured drift calls for more than the defaults: patch
#: attribution is a small mass from a few pixels above the 95th-percentile threshold, so one pixel
#: crossing it moves the mean by a step (probe: 5.8e-4 relative).
METRIC_TOLERANCES: dict[str, tuple[float, float]] = {"patch_attribution": (1e-2, 1e-6)}

CASE_SOURCES = ("shipped", "train")
CASE_IMAGE_SIZE = 16
CASE_NUM_CLASSES = 4
CASE_PATCH_SIZE = 5  # the paper's 10 px patch on 32 px images, scaled to 16 px
_CASE_SEED = 0
_CASE_RECIPE = {"epochs": 6, "batch_size": 50, "lr": 1e-3}
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
MANIFEST_NAME = "rectbench_case.json"
MODEL_FILE, DATA_FILE = "rectbench_case_model.pt", "rectbench_case_data.pt"


@dataclass(frozen=True)
class BenchmarkCase:
    """A fixed evaluation case.

    Attributes:
        model: PaperCNN(num_classes=4, image_size=16) in eval mode on ``device``, trained on
            synthetic shapes whose images all carry a fixed 5x5 random patch at the top-left (so
            attribution in the patch is attribution to an irrelevant feature).
        images: Model inputs, float32 (N, 3, 16, 16) in [-1, 1], patch included.
        labels: True classes, int64 (N,).
        targets: The model's predicted classes (the paper's attribution target), int64 (N,);
            shipped with the weights, so a near-tie cannot flip them on another CPU.
        masks: Exact object masks, bool (N, 16, 16), False under the patch.
        patch_box: ``(top, left, height, width)`` scored by patch attribution: (0, 0, 3, 3), ``metrics.scored_patch_box(5)`` (the patch minus its ambiguous ring, as the paper's 8x8 of 10x10).
        accuracy: Fraction of the case's images whose target equals the label.
        source: ``"shipped"`` (the packaged assets) or ``"train"`` (retrained on this machine).
    """

    model: Any
    images: Any
    labels: Any
    targets: Any
    masks: Any
    patch_box: tuple[int, int, int, int]
    accuracy: float
    source: str = "shipped"


def make_case_assets(
    n_test: int = 128, cache_dir: str | Path | None = None, device: str = "cpu", progress: bool = False
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Train the case model and build its test tensors, as ``tools/make_case_assets.py`` ships them.

    Returns:
        ``(state_dict, data, info)``: float32 weights on the CPU; ``data`` with ``images`` uint8
        (n_test, 3, 16, 16) (patch pasted), ``labels`` int64 (n_test,), ``masks`` bool
        (n_test, 16, 16) (False under the patch) and ``targets`` int64 (n_test,) (predictions);
        ``info``: training facts (recipe, accuracy, losses, smallest top-2 logit margin).
    """
    import torch

    from bench.data import add_patch, make_patch, make_synthetic, to_model_input
    from bench.training import ModelCache, TrainRecipe, train_or_load

    n_train = CASE_SIZES["medium"][0]
    train, test = make_synthetic(n_train, n_test, seed=_CASE_SEED, image_size=CASE_IMAGE_SIZE,
                                 num_classes=CASE_NUM_CLASSES)
    patch = make_patch(_CASE_SEED, size=CASE_PATCH_SIZE)
    train = replace(train, images=add_patch(train.images, patch))
    test = replace(test, images=add_patch(test.images, patch))
    cache = ModelCache(cache_dir) if cache_dir else None
    model, info = train_or_load(cache, "paper_cnn", train.images, train.labels, test.images,
                                test.labels, TrainRecipe(**_CASE_RECIPE), _CASE_SEED,
                                num_classes=train.num_classes, device=torch.device(device),
                                progress=progress)
    model = model.eval()
    with torch.no_grad():
        logits = model(to_model_input(test.images).to(device)).cpu()
    top2 = logits.topk(2, dim=1).values
    masks = test.masks.clone()
    masks[:, :CASE_PATCH_SIZE, :CASE_PATCH_SIZE] = False
    state = {k: v.detach().cpu().clone().contiguous() for k, v in model.state_dict().items()}
    data = {"images": test.images.clone(), "labels": test.labels.clone(), "masks": masks,
            "targets": logits.argmax(1)}
    facts = {"n_train": n_train, "n_test": n_test, "recipe": dict(_CASE_RECIPE),
             "image_size": CASE_IMAGE_SIZE, "num_classes": CASE_NUM_CLASSES,
             "patch_size": CASE_PATCH_SIZE, "patch_box": list(_patch_box()),
             "test_accuracy": float(info["test_accuracy"]),
             "epoch_losses": [float(x) for x in info.get("epoch_losses", [])],
             "min_logit_margin": float((top2[:, 0] - top2[:, 1]).min())}
    return state, data, facts


def _patch_box() -> tuple[int, int, int, int]:
    from metrics import scored_patch_box

    return scored_patch_box(CASE_PATCH_SIZE)


def sha256_file(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_case_assets(folder: str | Path | None = None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(state_dict, data, manifest)`` of the shipped case, each file checked against the SHA-256
    in the manifest (a mismatch raises ``RuntimeError``: the package is damaged or was edited)."""
    import torch

    root = Path(folder) if folder else ASSETS_DIR
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise FileNotFoundError(f"rectbench case manifest {manifest_path} is missing; reinstall "
                                "rectbench or run tools/make_case_assets.py")
    manifest = json.loads(manifest_path.read_text())
    loaded = []
    for name in (MODEL_FILE, DATA_FILE):
        raw = (root / name).read_bytes()
        expected = manifest["files"][name]["sha256"]
        if hashlib.sha256(raw).hexdigest() != expected:
            raise RuntimeError(f"{root / name} does not match its SHA-256 in {manifest_path} "
                               f"({expected}); reinstall rectbench or regenerate the assets")
        loaded.append(torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True))
    return loaded[0], loaded[1], manifest


def build_case(size: str = "small", device: str = "cpu", cache_dir: str | Path | None = None,
               *, source: str = "shipped") -> BenchmarkCase:
    """The case of the given size: the shipped assets, or (``source="train"``) a model retrained
    here (cached in ``cache_dir``, default ``~/.cache/rectbench/pytest``) with its own inputs."""
    from bench.data import to_model_input
    from bench.models import PaperCNN

    if size not in CASE_SIZES:
        raise ValueError(f"case size must be one of {sorted(CASE_SIZES)}, got {size!r}")
    if source not in CASE_SOURCES:
        raise ValueError(f"case source must be one of {CASE_SOURCES}, got {source!r}")
    n_test = CASE_SIZES[size][1]
    if source == "shipped":
        state, data, _ = load_case_assets()
    else:
        root = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "rectbench" / "pytest"
        state, data, _ = make_case_assets(CASE_SIZES["medium"][1], root, device)
    model = PaperCNN(num_classes=CASE_NUM_CLASSES, image_size=CASE_IMAGE_SIZE)
    model.load_state_dict(state)
    data = {key: value[:n_test] for key, value in data.items()}
    accuracy = float((data["targets"] == data["labels"]).double().mean())
    return BenchmarkCase(
        model=model.to(device).eval(),
        images=to_model_input(data["images"]).to(device),
        labels=data["labels"].to(device),
        targets=data["targets"].to(device),
        masks=data["masks"].to(device),
        patch_box=_patch_box(),
        accuracy=accuracy,
        source=source,
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
                    help="size of the rectbench case (default small: 32 images; medium: 128)")
    group.addoption("--rectbench-case", default="shipped", choices=CASE_SOURCES,
                    help="shipped: the packaged weights and inputs (default); train: retrain the "
                         "case model here (differs across CPUs, so goldens may not match)")
    parser.addini("rectbench_golden_dir", "folder of rectbench golden JSON files", default="tests/golden")
    parser.addini("rectbench_cache_dir", "folder caching a retrained (--rectbench-case=train) case model",
                  default="")


@pytest.fixture(scope="session")
def rectbench_case(pytestconfig: pytest.Config) -> BenchmarkCase:
    """The session's :class:`BenchmarkCase` (loaded once from the shipped assets)."""
    cache = pytestconfig.getini("rectbench_cache_dir") or os.environ.get("RECTBENCH_CACHE") or None
    if cache:
        cache = str(Path(pytestconfig.rootpath, cache)) if not Path(cache).is_absolute() else cache
    return build_case(pytestconfig.getoption("rectbench_case_size"),
                      pytestconfig.getoption("rectbench_device"), cache,
                      source=pytestconfig.getoption("rectbench_case"))


@pytest.fixture
def rectbench_evaluate(rectbench_case: BenchmarkCase) -> Callable[..., dict[str, float]]:
    """``evaluate(method, metrics=None) -> dict[str, float]`` on the session's case."""

    def evaluate(method: Any, metrics: Sequence[str] | None = None) -> dict[str, float]:
        return evaluate_method(rectbench_case, method, metrics)

    return evaluate


@pytest.fixture
def rectbench_golden(pytestconfig: pytest.Config) -> Callable[..., None]:
    """``golden(name, scores, rtol=None, atol=None)``: compare ``scores`` with the stored golden
    file; None takes each metric's measured tolerance (:data:`METRIC_TOLERANCES`, else the
    defaults :data:`DEFAULT_RTOL`, :data:`DEFAULT_ATOL`)."""
    folder = Path(pytestconfig.rootpath, pytestconfig.getini("rectbench_golden_dir"))
    update = pytestconfig.getoption("rectbench_update_golden")

    def golden(name: str, scores: dict[str, float], rtol: float | None = None,
               atol: float | None = None) -> None:
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


def metric_tolerance(metric: str, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``metric``: the given values, else the measured per-metric or default."""
    default_rtol, default_atol = METRIC_TOLERANCES.get(metric, (DEFAULT_RTOL, DEFAULT_ATOL))
    return (default_rtol if rtol is None else rtol), (default_atol if atol is None else atol)


def golden_diff(expected: dict[str, float], actual: dict[str, float], rtol: float | None = None,
                atol: float | None = None) -> list[str]:
    """Readable lines, one per metric that is missing, new, or outside ``atol + rtol * |expected|``
    (None: each metric's own tolerance, see :func:`metric_tolerance`)."""
    lines = []
    for metric in sorted(set(expected) | set(actual)):
        if metric not in actual:
            lines.append(f"  {metric}: expected {expected[metric]:.6g}, missing from the scores")
        elif metric not in expected:
            lines.append(f"  {metric}: {actual[metric]:.6g} has no golden value")
        else:
            e, a = float(expected[metric]), float(actual[metric])
            r, t = metric_tolerance(metric, rtol, atol)
            same_nan = math.isnan(e) and math.isnan(a)
            if not same_nan and not abs(a - e) <= t + r * abs(e):
                rel = abs(a - e) / abs(e) if e else math.inf
                lines.append(f"  {metric}: expected {e:.6g}, got {a:.6g} (diff {a - e:+.3g}, "
                             f"{rel:.2%} relative, allowed {r:.2g})")
    return lines
