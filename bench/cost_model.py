"""The run's cost model: counts of work per stage, turned into seconds by measured throughputs.

A stage's estimate is the work it has to do (training image-steps, images attributed per method,
retraining cells still missing) divided by the rates measured on this machine
(:mod:`bench.throughput`). What a resumed run has already stored (ROAR/KAR and leakage cells) is
left out; model and map caches are not inspected (the estimate is then pessimistic). Stages whose
cost is not modelled (decoding the data, summaries) get a small constant. The numbers are meant to
choose a protocol (minutes or hours?), not to the second: on a shared machine expect 20-30 %.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bench.config import RunConfig
from bench.experiment_settings import parse_sweep
from bench.throughput import Throughput
from methods import METHODS
from metrics import METRICS

__all__ = ["Sizes", "run_sizes", "estimate", "CONSTANT_SECONDS"]

#: Seconds given to the stages whose cost is not modelled.
CONSTANT_SECONDS = {"data": 2.0, "gallery": 0.5, "summary": 1.0}
#: Extra forward passes and attributions per image of the expensive (model-based) metrics.
_EXPENSIVE_WORK = {"forward": 20, "attribution": 2}


@dataclass(frozen=True)
class Sizes:
    """Image counts of a run: training and test images, and those of each image set."""

    n_train: int
    n_test: int
    sets: dict[str, int]


def run_sizes(config: RunConfig) -> Sizes:
    """The image counts the configuration implies (before any data is loaded)."""
    data, evaluation, roar = config.data, config.evaluation, config.roar
    full = {"synthetic": (2000, 500)}.get(data.source, (50_000, 10_000))
    n_train = min(data.n_train or full[0], full[0]) if data.source != "synthetic" else (
        data.n_train or full[0])
    n_test = min(data.n_test or full[1], full[1]) if data.source != "synthetic" else (
        data.n_test or full[1])
    classes = data.synthetic_classes if data.source == "synthetic" else 10
    n_eval = min(evaluation.n_images or n_test, n_test)
    sets = {
        "eval": n_eval,
        "patch": n_eval,
        "masked": evaluation.masked_per_class * classes,
        "train": n_train,
        "quantus": evaluation.n_quantus,
        "roar_train": min(roar.n_train or n_train, n_train),
        "roar_test": min(roar.n_test or n_test, n_test),
    }
    return Sizes(n_train, n_test, sets)


def estimate(
    config: RunConfig, rates: Throughput, *, cells_done: int = 0, leakage_done: int = 0,
    ensemble: bool = False,
) -> dict[str, float]:
    """Estimated seconds per stage of ``config`` (the pipeline's stage names).

    Args:
        config: The run.
        rates: Throughputs of this machine (for the run's model, image size and methods).
        cells_done, leakage_done: ROAR/KAR and leakage cells already stored (a resumed run).
        ensemble: Cells train as ensembles (``rates.ensemble``, image-steps/s of all members).
    """
    sizes = run_sizes(config)
    specs = [METRICS.get(m) for m in config.metrics]
    retraining = any(s.kind == "retraining" for s in specs)
    epochs = config.train.epochs
    models = sizes.n_train * epochs / rates.train
    if "patch" in {config.evaluation.image_sets.get(s.name, s.image_set) for s in specs}:
        models *= 2  # the patch model
    map_sets = _map_sets(config, sizes, retraining)
    maps = sum(n / rates.attribution[m] for (m, _), n in map_sets.items())
    images = sum(_image_set_sizes(config, sizes, retraining)) / rates.predict
    scores = _scores_seconds(config, sizes, rates)
    roar = config.roar
    modes = {s.retraining_mode for s in specs if s.kind == "retraining"} & set(roar.modes)
    train_rate = rates.ensemble if ensemble and rates.ensemble else rates.train
    cell = (sizes.sets["roar_train"] * roar.epochs / train_rate
            + sizes.sets["roar_test"] / rates.predict)
    # every method's cells, and one clean cell per seed (bench.stages.retraining)
    n_cells = (len(config.methods) * len(modes) * len(roar.fractions) + 1) * len(roar.seeds)
    n_leak = (len(config.methods) * len(roar.fractions) * min(roar.leakage_seeds, len(roar.seeds))
              if modes else 0)
    return {
        "data": CONSTANT_SECONDS["data"],
        "models": models,
        "images": images,
        "maps": maps,
        "scores": scores,
        "gallery": CONSTANT_SECONDS["gallery"],
        "retraining": max(0, n_cells - cells_done) * cell if retraining else 0.0,
        "leakage": max(0, n_leak - leakage_done) * cell if retraining else 0.0,
        "summary": CONSTANT_SECONDS["summary"],
        **_experiment_seconds(config, sizes, rates),
    }


def _experiment_seconds(config: RunConfig, sizes: Sizes, rates: Throughput) -> dict[str, float]:
    """The optional stages after the summary (bench.stages.robustness, .experiments, .sweep)."""
    seconds: dict[str, float] = {}
    specs = [METRICS.get(m) for m in config.metrics]
    if any(s.derived_from is not None for s in specs) or any("+" in m for m in config.methods):
        seconds["robustness"] = CONSTANT_SECONDS["summary"]
    ev = config.evaluation
    occluded = min(ev.occlusion_images or sizes.sets["masked"], sizes.sets["masked"])
    if "feature_occlusion" in config.experiments:  # object and background, T orders, S shares
        seconds["feature_occlusion"] = (occluded * 2 * ev.occlusion_trials * ev.occlusion_steps
                                        / rates.predict)
    slowest = min(rates.attribution.values(), default=1.0)
    if "noise_accumulation" in config.experiments:  # a few RectGrad variants, layer by layer
        seconds["noise_accumulation"] = 3 * sizes.sets["masked"] / rates.attribution.get(
            "rectgrad", slowest)
    if "threshold_sweep" in config.experiments:
        seconds["threshold_sweep"] = sum(_sweep_seconds(config, sizes, rates, text, slowest)
                                         for text in config.sweeps)
    return seconds


def _sweep_seconds(config: RunConfig, sizes: Sizes, rates: Throughput, text: str,
                   slowest: float) -> float:
    """Every point of one sweep: its maps on each image set of a retraining-free metric, and the
    expensive metrics' extra work (see ``_scores_seconds``)."""
    sweep = parse_sweep(text)
    rate = rates.attribution.get(sweep.method, slowest)
    spec = METHODS.get(sweep.method)
    metrics = [s for s in (METRICS.get(m) for m in config.metrics)
               if s.kind == "per_image" and s.derived_from is None
               and not (s.scale_dependent and not spec.meaningful_scale)]
    images = sum(sizes.sets[n] for n in {_set_of(config, s) for s in metrics})
    expensive = sum(sizes.sets["quantus"] * (_EXPENSIVE_WORK["forward"] / rates.predict
                                             + _EXPENSIVE_WORK["attribution"] / rate)
                    for s in metrics if s.expensive)
    return len(sweep.points) * (images / rate + expensive)


def _map_sets(config: RunConfig, sizes: Sizes, retraining: bool) -> dict[tuple[str, str], int]:
    """(method, image set) -> images attributed, as the maps stage computes them."""
    pairs: dict[tuple[str, str], int] = {}
    for method in config.methods:
        spec = METHODS.get(method)
        for metric in (METRICS.get(m) for m in config.metrics):
            if metric.kind != "per_image" or (metric.scale_dependent and not spec.meaningful_scale):
                continue
            name = _set_of(config, metric)
            pairs[(method, name)] = sizes.sets[name]
        if config.evaluation.gallery > 0:
            pairs[(method, "masked")] = sizes.sets["masked"]
        if retraining and not spec.random_ranking:
            pairs[(method, "roar_train")] = sizes.sets["roar_train"]
            pairs[(method, "roar_test")] = sizes.sets["roar_test"]
    return pairs


def _set_of(config: RunConfig, metric: object) -> str:
    name = config.evaluation.image_sets.get(metric.name, metric.image_set)  # type: ignore[attr-defined]
    if metric.expensive:  # type: ignore[attr-defined]
        return "quantus"
    return {"test": "eval", "retraining": "roar_train"}.get(name, name)


def _image_set_sizes(config: RunConfig, sizes: Sizes, retraining: bool) -> list[int]:
    names = ["eval", "masked", "patch"] + (["roar_train", "roar_test"] if retraining else [])
    return [sizes.sets[n] for n in names]


def _scores_seconds(config: RunConfig, sizes: Sizes, rates: Throughput) -> float:
    seconds = 0.0
    for metric in (METRICS.get(m) for m in config.metrics):
        if metric.kind != "per_image" or not metric.expensive:
            continue
        n = sizes.sets["quantus"]
        for method in config.methods:
            seconds += n * (_EXPENSIVE_WORK["forward"] / rates.predict
                            + _EXPENSIVE_WORK["attribution"] / rates.attribution[method])
    return seconds


def total(seconds: Mapping[str, float]) -> float:
    """The sum of the stage estimates."""
    return float(sum(seconds.values()))
