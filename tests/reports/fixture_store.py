"""A realistic result store of schema 3, written through ``bench.store.ResultStore``.

Used by ``tests/reports/conftest.py`` (small: five methods, seven metrics) and by
``benchmarks/report_speed.py`` (sized like the quick preset: ten methods, fifteen metrics, 500
images). Every table of the schema gets rows. The small store holds the cases the marker rule
must get right:

- Patch attribution: RectGrad's and the Sobel control's medians tie at 0 (the report shows the
  means); the control is *better* than the reference by the paired test (never starred).
- Background fraction: Gradient * Input is not separable from RectGrad (a tie: both starred).
- Total variation: the control scores best; RectGrad is the reference (starred alone).
- ROAR AUC: not resolved (seed SD); KAR AOC: resolved, RectGrad best.
- Sparseness (Quantus): every real method not separable from the reference: "does not separate".
- Gradient * Input's KAR accuracy falls as more is kept (a suspicious curve); Saliency's ROAR
  masks alone predict better than its retrained model at 90 % (a leakage flag).
- RectGrad has two all-zero maps on the patch set.
- Curves: RectGrad's percentile sweep with its ``tau=0`` endpoint, feature-map occlusion (with
  its note), noise accumulation by layer name. Rule agreement for patch attribution (tau 1) and
  total variation (tau 1/3). With ``rectgrad+blur`` among the methods (not in the small store):
  blurred RectGrad improves its ROAR AUC (tested) and its KAR AOC (one seed, untested) and is
  worse on total variation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bench.store import ResultStore

#: (id, label, role, colour) of every method the fixtures know, in the runner's order.
METHOD_SPECS = (
    ("saliency", "Saliency Map", "method", "#1f77b4"),
    ("grad_x_input", "Gradient * Input", "method", "#ff7f0e"),
    ("guided_backprop", "Guided BP", "method", "#2ca02c"),
    ("deconvolution", "Deconvolution", "method", "#bcbd22"),
    ("smoothgrad", "SmoothGrad", "method", "#9467bd"),
    ("integrated_gradients", "IntegGrad", "method", "#8c564b"),
    ("deeplift", "DeepLIFT", "method", "#17becf"),
    ("rectgrad", "RectGrad", "method", "#d62728"),
    ("random", "Random", "chance", "#444444"),
    ("edge_sobel", "Edge (Sobel)", "control", "#7f7f7f"),
    ("rectgrad+blur", "RectGrad + blur", "control", "#ff9896"),
)
#: (id, label, higher_is_better, kind, image_set, scale_dependent, concept, headline)
METRIC_SPECS = (
    ("patch_attribution", "Patch attribution", 0, "per_image", "patch", 1, "patch", 1),
    # background mass as its concept's headline here (the registry's is background fraction):
    # the tests' ranks use it
    ("background_mass", "Background mass", 0, "per_image", "masked", 1, "background", 1),
    ("background_fraction", "Background fraction", 0, "per_image", "masked", 0, "background", 0),
    ("total_variation", "Total variation", 0, "per_image", "test", 1, "noise", 1),
    ("total_variation_normalized", "Normalised TV", 0, "per_image", "test", 0, "noise", 0),
    ("roar_auc", "ROAR AUC", 0, "retraining", "retraining", 0, "roar", 1),
    ("kar_aoc", "KAR AOC", 0, "retraining", "retraining", 0, "kar", 1),
    ("quantus.ROAD", "ROAD (Quantus)", 0, "per_image", "masked", 0, None, 0),
    ("quantus.FaithfulnessCorrelation", "FaithfulnessCorrelation (Quantus)", 1, "per_image",
     "masked", 0, None, 0),
    ("quantus.RelevanceMassAccuracy", "RelevanceMassAccuracy (Quantus)", 1, "per_image", "masked",
     0, "background", 0),
    ("quantus.PointingGame", "PointingGame (Quantus)", 1, "per_image", "masked", 0, "background",
     0),
    ("quantus.Sparseness", "Sparseness (Quantus)", 1, "per_image", "masked", 0, None, 0),
    ("quantus.Complexity", "Complexity (Quantus)", 0, "per_image", "masked", 0, None, 0),
    ("quantus.RandomLogit", "RandomLogit (Quantus)", 0, "per_image", "masked", 0, None, 0),
    ("quantus.EfficientMPRT", "EfficientMPRT (Quantus)", 1, "per_image", "masked", 0, None, 0),
)
METHODS = ("saliency", "grad_x_input", "rectgrad", "random", "edge_sobel")
METRICS = ("patch_attribution", "background_mass", "background_fraction", "total_variation",
           "roar_auc", "kar_aoc", "quantus.Sparseness")
ALL_METHODS = tuple(s[0] for s in METHOD_SPECS)
ALL_METRICS = tuple(s[0] for s in METRIC_SPECS)

#: Stored medians of the small store (None: the method has no value, e.g. Random on a
#: scale-dependent metric); other methods/metrics follow :func:`_formula`.
MEDIANS: dict[str, dict[str, float | None]] = {
    "patch_attribution": dict(saliency=5.0, grad_x_input=4.0, rectgrad=0.0, random=None,
                              edge_sobel=0.0),
    "background_mass": dict(saliency=30.0, grad_x_input=20.0, rectgrad=10.0, random=None,
                            edge_sobel=12.0),
    "background_fraction": dict(saliency=0.6, grad_x_input=0.47, rectgrad=0.45, random=0.7,
                                edge_sobel=0.55),
    "total_variation": dict(saliency=12.0, grad_x_input=15.0, rectgrad=3.0, random=None,
                            edge_sobel=1.0),
    "roar_auc": dict(saliency=0.55, grad_x_input=0.54, rectgrad=0.53, random=0.556,
                     edge_sobel=0.545),
    "kar_aoc": dict(saliency=0.44, grad_x_input=0.42, rectgrad=0.34, random=0.444,
                    edge_sobel=0.40),
    "quantus.Sparseness": dict(saliency=0.40, grad_x_input=0.41, rectgrad=0.42, random=0.1,
                               edge_sobel=0.5),
}
#: Stored means of the medians that tie at 0.
ZERO_MEANS = {("rectgrad", "patch_attribution"): 0.8, ("edge_sobel", "patch_attribution"): 0.3}
#: Verdicts the rule of :func:`_verdict` would not give.
VERDICT_OVERRIDES = {("edge_sobel", "patch_attribution"): "better"}
QUALITY = dict(saliency=0.45, grad_x_input=0.6, guided_backprop=0.5, deconvolution=0.4,
               smoothgrad=0.55, integrated_gradients=0.7, deeplift=0.68, rectgrad=0.9,
               random=0.05, edge_sobel=0.5)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
FRACTIONS = (0.1, 0.5, 0.9)
STAGES = (("data", 1.5), ("models", 600.0), ("images", 3.0), ("maps", 30.25), ("scores", 20.0),
          ("gallery", 0.75), ("retraining", 582.75), ("summary", 1.25), ("report", 2.5),
          ("total", 1242.0))
ESTIMATES = {"data": 2.0, "models": 540.0, "maps": 25.0, "scores": 30.0, "retraining": 700.0,
             "total": 1300.0}
STARTED = 1_700_000_000.0
CONFIG_TOML = """preset = "quick"
seed = 0
device = "cpu"

[data]
name = "cifar10"

[roar]
fractions = [0.1, 0.5, 0.9]
seeds = [0, 1]
"""


def _specs(table: tuple[tuple, ...], names: Sequence[str]) -> list[tuple]:
    by_name = {s[0]: s for s in table}
    return [by_name[n] for n in names]


def _formula(method: str, metric: str, higher: int) -> float:
    quality = QUALITY.get(method, 0.5)
    base = 1.0 + 0.1 * (len(metric) % 7)
    return round(base * (0.5 + quality if higher else 1.5 - quality), 4)


def median_of(method: str, metric: str, higher: int, scale_dependent: int) -> float | None:
    """The stored median (or retraining value) of (method, metric), None when it has none."""
    if metric in MEDIANS and method in MEDIANS[metric]:
        return MEDIANS[metric][method]
    if scale_dependent and method == "random":
        return None
    return _formula(method, metric, higher)


def per_image_values(median: float, n: int, mean: float | None = None) -> np.ndarray:
    """``n`` skewed values whose median is ``median`` (at 0: half zeros, mean ``mean``)."""
    if median == 0:
        values = np.zeros(n)
        tail = n - n // 2 - 1
        values[n // 2 + 1:] = (mean or 0.5) * n / max(tail, 1)
        return values
    return median * np.exp(0.3 * (np.arange(n) - n // 2) / max(n / 11, 1))


def _verdict(method: str, value: float, ref: float, higher: int, role: str) -> str:
    close = abs(value - ref) <= 0.05 * max(abs(ref), 1e-12)
    if close:
        return "not_separable"
    better = value > ref if higher else value < ref
    return "better" if better and role != "method" else "worse"


def _comparisons(metric: str, higher: int, values: dict[str, float], roles: dict[str, str],
                 retraining: bool, n: int) -> list[dict]:
    real = {m: v for m, v in values.items() if roles[m] == "method"}
    ref = (max if higher else min)(real, key=real.__getitem__)
    rows = []
    for method, value in values.items():
        verdict = "reference" if method == ref else VERDICT_OVERRIDES.get(
            (method, metric), _verdict(method, value, real[ref], higher, roles[method]))
        diff = value - real[ref]
        rows.append(dict(
            metric=metric, method=method, reference=ref, statistic="mean" if retraining else
            "median", value=diff, low=diff - 0.03 * abs(real[ref]) - 1e-3,
            high=diff + 0.03 * abs(real[ref]) + 1e-3,
            interval="t_seeds" if retraining else "bootstrap_pairs",
            p_value=None if verdict == "reference" else (0.4 if verdict == "not_separable"
                                                         else 0.002),
            test="paired_t_over_seeds" if retraining else "wilcoxon_signed_rank", n=n,
            verdict=verdict))
    return rows


def _score_rows(store: ResultStore, run_id: str, methods: list[tuple], metrics: list[tuple],
                n_images: int, seeds: Sequence[int], with_image_scores: bool) -> list[dict]:
    """Store the scores (and per-image values); return the comparison rows."""
    roles = {m[0]: m[2] for m in methods}
    scores, comparisons = [], []
    for metric, _, higher, kind, _, scale, _, _ in metrics:
        values = {m[0]: median_of(m[0], metric, higher, scale) for m in methods}
        values = {m: v for m, v in values.items() if v is not None}
        retraining = kind == "retraining"
        for method, value in values.items():
            common = dict(method=method, metric=metric, higher_is_better=higher)
            if retraining:
                scores.append(dict(common, statistic="value", value=value,
                                   low=value - 0.012 if len(seeds) > 1 else None,
                                   high=value + 0.012 if len(seeds) > 1 else None,
                                   interval="t_seeds" if len(seeds) > 1 else "none",
                                   n=len(seeds)))
                continue
            image_values = per_image_values(value, n_images, ZERO_MEANS.get((method, metric)))
            if with_image_scores:
                store.put_image_scores(run_id, method, metric, image_values.tolist())
            scores.append(dict(common, statistic="median", value=value, low=0.9 * value,
                               high=1.1 * value + (0.05 if value == 0 else 0),
                               interval="bootstrap_images", n=n_images))
            scores.append(dict(common, statistic="mean", value=float(image_values.mean()),
                               n=n_images))
        n = len(seeds) if retraining else n_images
        comparisons += _comparisons(metric, higher, values, roles, retraining, n)
    store.put_scores(run_id, scores)
    return comparisons


def _resolution_rows(metrics: list[tuple], seeds: Sequence[int]) -> list[dict]:
    rows = []
    for metric, *_, concept, _ in metrics:
        if concept in ("roar", "kar") and len(seeds) < 2:
            rows.append(dict(metric=metric, resolved=0, reason="one retraining seed: no interval"))
        elif concept == "roar":
            rows.append(dict(metric=metric, resolved=0,
                             reason="not resolved at this scale (seed SD 0.015)"))
        else:
            rows.append(dict(metric=metric, resolved=1, reason=""))
    return rows


def roar_accuracy(method: str, mode: str, fraction: float, seed: int) -> float:
    """Retrained accuracy: ROAR falls with the removed fraction, KAR rises with the kept one
    (but Gradient * Input's KAR falls: the suspicious curve)."""
    quality = QUALITY.get(method, 0.5)
    offset = 0.008 * (seed - 0.5)
    if mode == "roar":
        return round(0.7 - (0.2 + 0.3 * quality) * fraction + offset, 4)
    slope = -0.15 if method == "grad_x_input" else 0.1 + 0.3 * quality
    return round(0.35 + slope * fraction + offset, 4)


def _retraining_rows(store: ResultStore, run_id: str, methods: Sequence[str], seeds: Sequence[int]) -> None:
    cells, leakage = [], []
    for method in methods:
        for mode in ("roar", "kar"):
            for fraction in FRACTIONS:
                for seed in seeds:
                    key = dict(method=method, mode=mode, fraction=fraction, seed=seed)
                    cells.append(dict(key, accuracy=roar_accuracy(method, mode, fraction, seed)))
                    leak = 0.5 if (method, mode, fraction) == ("saliency", "roar", 0.9) else (
                        0.1 + 0.05 * fraction)
                    leakage.append(dict(key, accuracy=leak + 0.01 * seed))
    store.put_rows("roar_cells", run_id, cells)
    store.put_rows("leakage", run_id, leakage)
    store.put_rows("differences", run_id, [  # ROAR AUC minus Random's, over test images
        dict(metric="roar_auc", method=m, reference="random", interval="bootstrap_pairs",
             value=-0.02 * (i + 1), low=-0.02 * (i + 1) - 0.01, high=-0.02 * (i + 1) + 0.01,
             se=0.005, p_value=0.01, n_seeds=len(seeds), n_images=100)
        for i, m in enumerate(m for m in methods if m != "random")])


def _curve_rows(methods: Sequence[str]) -> list[dict]:
    rows = []
    for q in (-9.95, 0.0, 50.0, 80.0, 90.0, 95.0, 99.0):
        for series, top in (("patch_attribution", 4.0), ("total_variation", 14.0)):
            value = top * (1 - max(q, 40.0) / 110)
            rows.append(dict(experiment="sweep:rectgrad.percentile", method="rectgrad",
                             series=series, x=q, value=value, low=0.9 * value,
                             high=1.1 * value, n=100, x_label="tau=0" if q < 0 else None))
    for share in np.linspace(0, 1, 6):
        for series, drop in (("object", 6.0), ("background", 1.0)):
            value = 8.0 - drop * share
            rows.append(dict(experiment="feature_occlusion", method="", series=series,
                             x=float(share), value=value, low=value - 0.3, high=value + 0.3, n=50))
    for method in [m for m in ("saliency", "rectgrad") if m in methods]:
        for layer in range(5):
            value = 0.5 + (0.08 if method == "saliency" else -0.05) * layer
            rows.append(dict(experiment="noise_accumulation", method=method,
                             series="background share", x=float(layer), value=value,
                             low=value - 0.02, high=value + 0.02, n=100,
                             x_label="input" if layer == 0 else f"features.{2 * layer - 1}"))
    return rows


#: The note stored under the feature-occlusion figure.
OCCLUSION_NOTE = "Layer features.4 of the explained model, 50 random orders per image and region."


def _robustness_rows(store: ResultStore, run_id: str, methods: Sequence[str]) -> None:
    store.put_rows("rule_agreement", run_id, [
        dict(metric="patch_attribution", kendall_tau=1.0, p_value=0.0833, n=4),
        dict(metric="total_variation", kendall_tau=1 / 3, p_value=0.75, n=4),
    ])
    store.put_rows("notes", run_id, [dict(kind="curve:feature_occlusion", position=0,
                                          text=OCCLUSION_NOTE)])
    if not {"rectgrad", "rectgrad+blur"} <= set(methods):
        return
    pair = dict(control="rectgrad+blur", method="rectgrad", statistic="difference")
    store.put_rows("control_pairs", run_id, [
        dict(pair, metric="roar_auc", value=-0.03, low=-0.05, high=-0.01,
             interval="t_seeds", p_value=0.01, test="paired_t_over_seeds", n=3,
             verdict="better"),
        dict(pair, metric="kar_aoc", value=-0.02, low=None, high=None, interval="t_seeds",
             p_value=None, test="paired_t_over_seeds", n=1, verdict="untested"),
        dict(pair, metric="total_variation", value=0.4, low=0.2, high=0.6,
             interval="bootstrap_pairs", p_value=0.001, test="wilcoxon_signed_rank", n=11,
             verdict="worse"),
    ])


def _image_rows(store: ResultStore, run_id: str, methods: Sequence[str], n_images: int) -> None:
    sets = {"eval": n_images, "masked": min(n_images, 100), "patch": n_images}
    store.put_rows("image_sets", run_id, [
        dict(image_set=name, position=i, source_index=3 * i, label=i % 10)
        for name, n in sets.items() for i in range(n)
    ])
    store.put_rows("map_checks", run_id, [
        dict(method=m, image_set=name, n_images=n,
             n_zero=2 if (m, name) == ("rectgrad", "patch") else 0)
        for m in methods for name, n in sets.items()
    ])


def gallery_arrays(n_images: int, size: int, methods: Sequence[str]) -> list[tuple]:
    """``(index, label, class_name, image (3, H, W) uint8, mask or None, {method: map})`` for
    ``n_images`` images stratified over the classes (0, 1, 2, 0, 1, 2, ... for six images);
    the last image has no mask."""
    rng = np.random.default_rng(0)
    n_classes = max(1, min(len(CLASSES), (n_images + 1) // 2))
    yy, xx = np.mgrid[0:size, 0:size]
    items = []
    for i in range(n_images):
        label = i % n_classes
        mask = (abs(yy - size / 2) < size / 4) & (abs(xx - size / 2) < size / 3)
        image = rng.integers(0, 256, size=(3, size, size), dtype=np.uint8)
        maps = {m: (rng.normal(size=(size, size)) + 3 * mask).astype(np.float32) for m in methods}
        items.append((7 * i + 1, label, CLASSES[label], image,
                      None if i == n_images - 1 else mask, maps))
    return items


def _catalog_rows(methods: list[tuple], metrics: list[tuple]) -> tuple[list[dict], list[dict]]:
    method_rows = [dict(method=m, label=label, role=role, color=color, description=f"{label}.",
                        reference="", settings_json="{}") for m, label, role, color in methods]
    metric_rows = [dict(metric=m, label=label, higher_is_better=h, kind=k, image_set=s,
                        scale_dependent=sd, concept=c, headline=hl, description=f"{label}.")
                   for m, label, h, k, s, sd, c, hl in metrics]
    return method_rows, metric_rows


def write_store(
    run_dir: Path, *, run_id: str = "quick-0001", preset: str = "quick",
    dataset: str = "cifar10", model: str = "paper_cnn", protocol: str = "p-3f2a9c",
    methods: Sequence[str] = METHODS, metrics: Sequence[str] = METRICS, n_images: int = 11,
    seeds: Sequence[int] = (0, 1), n_gallery: int = 6, gallery_size: int = 16,
    with_image_scores: bool = True, optional: bool = True,
) -> Path:
    """Write ``run_dir/results.sqlite`` (appending a run when it exists); returns ``run_dir``.

    ``optional=False`` leaves out every table a run may lack (retraining, gallery, curves,
    leakage, map checks, image sets, estimates, models, comparisons, resolution, stages).
    """
    from bench.store import ResultStore

    run_dir.mkdir(parents=True, exist_ok=True)
    method_specs, metric_specs = _specs(METHOD_SPECS, methods), _specs(METRIC_SPECS, metrics)
    env = {"python": "3.11.2", "versions": {"torch": "2.3.1", "captum": "0.7.0"},
           "device": "cpu (2 threads)"}
    with ResultStore(run_dir / "results.sqlite") as store:
        store.begin_run(run_id, preset=preset, dataset=dataset, model=model, protocol=protocol,
                        config_toml=CONFIG_TOML.replace("quick", preset), env=env,
                        started=STARTED)
        store.update_run(run_id, model_accuracy=0.714, finished=STARTED + 1240.0,
                         peak_rss_mb=1843.5)
        store.put_catalog(run_id, *_catalog_rows(method_specs, metric_specs))
        comparisons = _score_rows(store, run_id, method_specs, metric_specs, n_images, seeds,
                                  with_image_scores)
        if not optional:
            return run_dir
        store.put_rows("comparisons", run_id, comparisons)
        store.put_rows("resolution", run_id, _resolution_rows(metric_specs, seeds))
        store.put_model(run_id, "clean", "c0ffee", 0.714)
        store.put_model(run_id, "patch", "beef01", 0.702)
        for position, (stage, seconds) in enumerate(STAGES):
            store.add_stage_time(run_id, stage, position, seconds)
        store.put_rows("estimates", run_id,
                       [dict(stage=s, seconds=v) for s, v in ESTIMATES.items()])
        _retraining_rows(store, run_id, methods, seeds)
        store.put_rows("curves", run_id, _curve_rows(methods))
        _robustness_rows(store, run_id, methods)
        _image_rows(store, run_id, methods, n_images)
        items = gallery_arrays(n_gallery, gallery_size, methods)
        for method in methods:
            store.put_gallery(run_id, method, [i[0] for i in items], [i[1] for i in items],
                              np.stack([i[5][method] for i in items]),
                              np.stack([i[3] for i in items]), [i[4] for i in items],
                              class_names=[i[2] for i in items])
    return run_dir
