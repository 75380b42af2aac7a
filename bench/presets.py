"""Named run configurations: ``smoke`` (seconds), ``quick`` (CPU-sized), ``paper`` (full protocol).

Each preset is a :class:`~bench.config.RunConfig` factory registered in :data:`PRESETS`.
``get_preset(name)`` resolves it with every registered method and the paper's metrics filled in,
so ``rectbench presets show NAME`` prints exactly what ``rectbench run --preset NAME`` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainConfig
from methods.registry import Registry

__all__ = ["PRESETS", "PAPER_METRICS", "PresetSpec", "available_presets", "get_preset"]

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
        methods=_all_methods(),
        metrics=PAPER_METRICS,
        data=DataConfig(source="synthetic", n_train=1200, n_test=200, synthetic_classes=4),
        train=TrainConfig(epochs=3, batch_size=50),
        evaluation=EvalConfig(n_images=32, masked_per_class=8, n_quantus=8, batch_size=64, gallery=4),
        roar=RoarConfig(fractions=(0.1, 0.5, 0.9), seeds=(0,), n_train=400, n_test=100, epochs=2),
    )


def _quick() -> RunConfig:
    # Reductions from the paper's protocol, chosen to finish within ~45 minutes on 2 CPU cores:
    # 6 training epochs instead of 20 (test accuracy plateaus from epoch 3, PROTOCOL.md);
    # patch and total variation on 1,000 test images instead of 10,000 test / 50,000 train;
    # ROAR/KAR on 5,000 train / 1,000 test images, 3 fractions, 1 seed, 3 retraining epochs.
    return RunConfig(
        preset="quick",
        description="CPU-sized version of the paper's CIFAR-10 protocol (see the reductions).",
        methods=_all_methods(),
        metrics=PAPER_METRICS,
        data=DataConfig(source="cifar10"),
        train=TrainConfig(epochs=6),
        evaluation=EvalConfig(n_images=1000, masked_per_class=10, n_quantus=32),
        roar=RoarConfig(fractions=(0.1, 0.5, 0.9), seeds=(0,), n_train=5000, n_test=1000, epochs=3),
    )


def _paper() -> RunConfig:
    return RunConfig(
        preset="paper",
        description="The full protocol of the RectGrad paper on CIFAR-10 (PROTOCOL.md).",
        methods=_all_methods(),
        metrics=PAPER_METRICS,
        data=DataConfig(source="cifar10"),
        train=TrainConfig(epochs=20),
        evaluation=EvalConfig(n_images=0, masked_per_class=10, n_quantus=100),
        roar=RoarConfig(),
    )


PRESETS.register("smoke", PresetSpec("smoke", "synthetic shapes, tiny sizes, every method and metric (< 2 min)", _smoke))
PRESETS.register("quick", PresetSpec("quick", "CIFAR-10, CPU-sized protocol (< 45 min on 2 cores)", _quick))
PRESETS.register("paper", PresetSpec("paper", "CIFAR-10, the paper's full protocol (20 epochs, 3 ROAR seeds)", _paper))


def available_presets() -> list[str]:
    return PRESETS.names()


def get_preset(name: str) -> RunConfig:
    """The resolved configuration of preset ``name`` (``KeyError`` lists valid names)."""
    return PRESETS.get(name).build()
