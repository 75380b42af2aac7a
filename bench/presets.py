"""Named run configurations: ``smoke`` (seconds), ``quick`` (CPU-sized), ``paper`` (full protocol).

Each preset is a :class:`~bench.config.RunConfig` factory registered in :data:`PRESETS`.
``get_preset(name)`` resolves it with every registered method and the paper's metrics filled in,
so ``rectbench presets show NAME`` prints exactly what ``rectbench run --preset NAME`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe
from common.registry import Registry

__all__ = [
    "PRESETS",
    "PAPER_METRICS",
    "QUANTUS_METRICS",
    "PresetSpec",
    "available_presets",
    "deviations",
    "get_preset",
]

#: The paper's metrics (retraining-free ones first, then ROAR/KAR).
PAPER_METRICS: tuple[str, ...] = (
    "patch_attribution",
    "background_mass",
    "background_fraction",
    "total_variation",
    "total_variation_normalized",
    "roar_auc",
    "kar_aoc",
)


#: Quantus' retraining-free companions of ROAR/KAR, offered as extra leaderboard columns.
QUANTUS_METRICS: tuple[str, ...] = (
    "quantus.ROAD",
    "quantus.FaithfulnessCorrelation",
    "quantus.RelevanceMassAccuracy",
    "quantus.PointingGame",
    "quantus.Sparseness",
    "quantus.Complexity",
    "quantus.RandomLogit",
    "quantus.EfficientMPRT",
)


@dataclass(frozen=True)
class PresetSpec:
    name: str
    summary: str
    build: Callable[[], RunConfig]


PRESETS: Registry[PresetSpec] = Registry("preset")


def _all_methods() -> tuple[str, ...]:
    from methods import available_methods

    return tuple(available_methods())


def _smoke() -> RunConfig:
    return RunConfig(
        preset="smoke",
        description="Seconds-long check of the whole pipeline on synthetic shapes; numbers mean little.",
        methods=_all_methods() + ("saliency+blur", "rectgrad+blur"),
        metrics=PAPER_METRICS + ("class_sensitivity",),
        # 16x16 images (a quarter of CIFAR's pixels) keep 50-sample methods and 40 retrainings cheap.
        data=DataConfig(source="synthetic", n_train=1200, n_test=200, synthetic_classes=4,
                        image_size=16, patch_size=6),
        train=TrainRecipe(epochs=3, batch_size=50),
        evaluation=EvalConfig(n_images=32, masked_per_class=8, n_quantus=8, batch_size=100, gallery=4),
        roar=RoarConfig(fractions=(0.25, 0.75), seeds=(0,), n_train=300, n_test=100, epochs=3),
    )


def _quick() -> RunConfig:
    # Reductions from the paper's protocol, chosen to finish within 45 minutes on 2 CPU cores
    # (one PaperCNN training step on 100 images costs ~0.25 s there, a 50-sample method ~2.4 ms
    # per image and sample):
    # - 2 training epochs on all 50,000 images instead of 20 (the paper model overfits from
    #   about epoch 5; accuracy is within a few points of its plateau);
    # - patch attribution and total variation on 500 test images (paper: 10,000 test images for
    #   the patch, 50,000 training images for total variation); all 100 masked images;
    # - ROAR/KAR on 1,500 train / 500 test images, fractions 0.1/0.5/0.9, 1 seed, 3 retraining
    #   epochs (paper: 50,000 / 10,000 images, 5 fractions, 3 seeds, 20 epochs);
    # - Quantus metrics on 32 masked images.
    return RunConfig(
        preset="quick",
        description="CPU-sized version of the paper's CIFAR-10 protocol (see the reductions).",
        methods=_all_methods() + ("saliency+blur", "rectgrad+blur"),
        metrics=PAPER_METRICS + QUANTUS_METRICS + ("class_sensitivity",),
        experiments=("feature_occlusion", "noise_accumulation", "threshold_sweep"),
        data=DataConfig(source="cifar10"),
        train=TrainRecipe(epochs=2),
        evaluation=EvalConfig(n_images=500, masked_per_class=10, n_quantus=32),
        roar=RoarConfig(fractions=(0.1, 0.5, 0.9), seeds=(0,), n_train=1500, n_test=500, epochs=3),
    )


def _paper() -> RunConfig:
    return RunConfig(
        preset="paper",
        description="The full protocol of the RectGrad paper on CIFAR-10 (PROTOCOL.md).",
        methods=_all_methods() + ("saliency+blur", "rectgrad+blur"),
        metrics=PAPER_METRICS + QUANTUS_METRICS + ("class_sensitivity",),
        experiments=("feature_occlusion", "noise_accumulation", "threshold_sweep"),
        data=DataConfig(source="cifar10"),
        train=TrainRecipe(epochs=20),
        # The paper: patch attribution over the 10,000 test images, total variation over the
        # 50,000 training images, background mass over the 100 masked images.
        evaluation=EvalConfig(n_images=0, masked_per_class=10, n_quantus=100,
                              image_sets={"total_variation": "train",
                                          "total_variation_normalized": "train"}),
        roar=RoarConfig(),
    )


PRESETS.register("smoke", PresetSpec("smoke", "synthetic shapes, tiny sizes, every method and metric (< 2 min)", _smoke))
PRESETS.register("quick", PresetSpec("quick", "CIFAR-10, CPU-sized protocol (< 45 min on 2 cores)", _quick))
PRESETS.register("paper", PresetSpec("paper", "CIFAR-10, the paper's full protocol (20 epochs, 3 ROAR seeds)", _paper))


#: Settings that do not change what the paper's protocol measures (paths, devices, labels).
_NOT_PROTOCOL = ("preset", "description", "device", "methods", "metrics", "data.path",
                 "data.masks", "data.download", "evaluation.batch_size", "evaluation.gallery",
                 "evaluation.n_quantus")


def deviations(config: RunConfig) -> list[str]:
    """Where ``config`` differs from the paper's protocol (the ``paper`` preset), one sentence
    each, e.g. ``"train.epochs = 2 (the paper: 20)"``; empty for the paper preset itself. The
    report lists them, so a reader knows which numbers are comparable with the paper's."""
    ours, paper = _flatten(config.to_dict()), _flatten(_paper().to_dict())
    lines = [
        f"{key} = {_show(ours.get(key))} (the paper: {_show(paper.get(key))})"
        for key in sorted(set(ours) | set(paper))
        if not key.startswith(_NOT_PROTOCOL) and ours.get(key) != paper.get(key)
    ]
    missing = [m for m in PAPER_METRICS if m not in config.metrics]
    if missing:
        lines.append(f"metrics of the paper not run: {', '.join(missing)}")
    if config.data.source == "cifar10" and not config.data.masks:
        lines.append("no object masks: background metrics cannot be computed")
    return lines


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and key != "image_sets":
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat


def _show(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
    return "0 (all)" if value == 0 else str(value)


def available_presets() -> list[str]:
    return PRESETS.names()


def get_preset(name: str) -> RunConfig:
    """The resolved configuration of preset ``name`` (``KeyError`` lists valid names)."""
    return PRESETS.get(name).build()
