"""Quantus metrics (Hedström et al. 2023) as per-image metrics on the project's inputs.

Each adapter runs one Quantus metric on ``MetricInputs``: the model, the float model input, the
targets, the maps as precomputed attributions (``a_batch``, shape (N, 1, H, W)) where Quantus
allows it, the foreground masks as ``s_batch``, and ``inputs.attribute`` wrapped as Quantus'
``explain_func`` where the metric must explain again (other classes, a randomised model). The
``explain_func`` returns the channel sum of the attributions (the paper's map, without the
evaluation post-processing of ``methods.to_map``); the randomisation metrics, which compare
explanations with each other, take all their explanations from it so that both sides match.

Quantus' ROAD is not offered: 0.6.0 raises ``IndexError`` on RGB images; the project's own ROAD
(``metrics.road``, registered as ``road_morf`` / ``road_lerf``) replaces it.

Settings are chosen to be cheap on CPU for ~100 images of 32x32 and are documented per entry in
:data:`QUANTUS_SETTINGS`. Quantus is slow to import, so it is imported inside the call. Every call
is quiet (``disable_warnings``, no progress bar, Python warnings from Quantus silenced) and leaves
the global numpy and torch random states as it found them (Quantus reseeds them); it seeds numpy
with 0 inside, so repeated calls give the same scores.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from metrics._checks import check_maps, check_mask, nan_where, warn_nan
from metrics.inputs import MetricInputs

__all__ = ["QuantusSetting", "QUANTUS_SETTINGS", "quantus_scores"]


@dataclass(frozen=True)
class QuantusSetting:
    """How one Quantus metric is run.

    Attributes:
        class_name: The Quantus class (``quantus.<class_name>``).
        higher_is_better: Quantus' own ``score_direction``.
        description: One line for listings.
        requires: ``MetricInputs`` fields read.
        uses_maps: Pass ``inputs.maps`` as ``a_batch``; False: Quantus explains with
            ``inputs.attribute`` for every explanation it needs.
        options: Constructor arguments beyond the quiet defaults; ``"auto"`` values are filled
            from the inputs (see ``_resolve``).
    """

    class_name: str
    higher_is_better: bool
    description: str
    requires: tuple[str, ...]
    uses_maps: bool = True
    options: dict[str, Any] = field(default_factory=dict)


_MODEL_INPUTS = ("maps", "model", "images", "targets")

QUANTUS_SETTINGS: tuple[QuantusSetting, ...] = (
    QuantusSetting(
        "Sparseness",
        higher_is_better=True,
        description="Sparseness (Chalasani et al. 2020): Gini index of |map|; higher is better "
        "(a few features carry the attribution)",
        requires=("maps", "images"),
    ),
    QuantusSetting(
        "Complexity",
        higher_is_better=False,
        description="Complexity (Bhatt et al. 2020): entropy of the |map| distribution; lower is "
        "better (a concise explanation)",
        requires=("maps", "images"),
    ),
    QuantusSetting(
        "RelevanceMassAccuracy",
        higher_is_better=True,
        description="Relevance Mass Accuracy (Arras et al. 2021): share of |map| on the object; "
        "higher is better. Equals 1 - background_fraction",
        requires=("maps", "images", "foreground"),
        # abs=True: the paper scores |map|, and the signed ratio is not a share for signed maps.
        options={"abs": True},
    ),
    QuantusSetting(
        "PointingGame",
        higher_is_better=True,
        description="Pointing Game (Zhang et al. 2018): 1 if the map's maximum lies on the "
        "object, else 0; higher is better",
        requires=("maps", "images", "foreground"),
    ),
    QuantusSetting(
        "FaithfulnessCorrelation",
        higher_is_better=True,
        description="Faithfulness Correlation (Bhatt et al. 2020): Pearson correlation between "
        "the attribution of random feature subsets and the logit drop when they are removed; "
        "higher is better",
        requires=_MODEL_INPUTS,
        # 20 random subsets (Quantus: 100) of 1/16 of the C*H*W features (Quantus: 224, sized for
        # 224x224 images), the per-image score from Quantus (no aggregation).
        options={"nr_runs": 20, "subset_size": "auto", "return_aggregate": False},
    ),
    QuantusSetting(
        "RandomLogit",
        higher_is_better=False,
        description="Random Logit (Sixt et al. 2020): SSIM between the explanation of the target "
        "and of a random other class; lower is better (explanations should depend on the class)",
        requires=(*_MODEL_INPUTS, "attribute"),
        uses_maps=False,
        options={"num_classes": "auto"},
    ),
    QuantusSetting(
        "EfficientMPRT",
        higher_is_better=True,
        description="Efficient MPRT (Hedström et al. 2023): relative rise in explanation entropy "
        "from the trained to the fully randomised model; higher is better (explanations should "
        "depend on the parameters)",
        requires=(*_MODEL_INPUTS, "attribute"),
        uses_maps=False,
        # skip_layers: only the original and the fully randomised model are explained.
        options={"skip_layers": True, "layer_order": "bottom_up"},
    ),
)


def quantus_scores(setting: QuantusSetting, inputs: MetricInputs) -> torch.Tensor:
    """Run ``quantus.<setting.class_name>`` on ``inputs`` and return one score per image.

    Args:
        setting: Which metric and how (see :data:`QUANTUS_SETTINGS`).
        inputs: Needs the fields in ``setting.requires``; ``images`` (N, C, H, W) float,
            ``maps`` (N, H, W), ``targets`` int64 (N,), ``foreground`` bool (N, H, W).

    Returns:
        Tensor (N,) float64 on the CPU; NaN (one warning) where Quantus' value is undefined or
        not finite, and where ``foreground`` is empty for the localisation metrics.
    """
    arrays = _arrays(setting, inputs)
    import quantus  # lazily: importing Quantus takes seconds

    metric_class = getattr(quantus, setting.class_name)
    metric = metric_class(
        disable_warnings=True, display_progressbar=False, **_resolve(setting, inputs)
    )
    explain = _explain_func(inputs) if inputs.attribute is not None else None
    with _quiet_and_isolated_rng(inputs.images.device):
        scores = metric(
            model=inputs.model,
            explain_func=explain,
            channel_first=True,
            device=str(inputs.images.device),
            batch_size=len(arrays["x_batch"]),
            **arrays,
        )
    values = torch.as_tensor(np.asarray(scores, dtype=np.float64).reshape(-1))
    if values.shape != (inputs.maps.shape[0],):
        raise RuntimeError(
            f"quantus.{setting.class_name} returned {values.numel()} values for "
            f"{inputs.maps.shape[0]} images"
        )
    undefined = ~torch.isfinite(values)
    if "foreground" in setting.requires and inputs.foreground is not None:
        # Quantus turns an empty mask into True in PointingGame (NaN cast to bool).
        undefined |= ~inputs.foreground.flatten(1).any(dim=1).cpu()
    values = nan_where(values, undefined)
    warn_nan(values, f"quantus.{setting.class_name}")
    return values


def _arrays(setting: QuantusSetting, inputs: MetricInputs) -> dict[str, np.ndarray | None]:
    for name in setting.requires:
        if getattr(inputs, name) is None:
            raise ValueError(f"quantus.{setting.class_name} needs inputs.{name}, got None")
    maps = check_maps(inputs.maps, "inputs.maps")
    images = inputs.images
    if not isinstance(images, torch.Tensor) or not images.is_floating_point() or images.ndim != 4:
        raise ValueError("inputs.images must be the float model input of shape (N, C, H, W)")
    if (images.shape[0], *images.shape[2:]) != tuple(maps.shape):
        raise ValueError(
            f"inputs.maps {tuple(maps.shape)} does not match inputs.images {tuple(images.shape)}"
        )
    targets = inputs.targets if inputs.targets is not None else inputs.labels
    if targets is None:
        targets = torch.zeros(maps.shape[0], dtype=torch.int64)  # map-only metrics ignore it
    if targets.dtype != torch.int64 or targets.shape != (maps.shape[0],):
        raise ValueError("inputs.targets must be an int64 tensor of shape (N,)")
    segmentation = None
    if "foreground" in setting.requires:
        foreground = check_mask(inputs.foreground, maps.shape, "inputs.foreground")
        segmentation = foreground[:, None].cpu().numpy()
    return {
        "x_batch": images.detach().cpu().numpy().astype(np.float32),
        "y_batch": targets.cpu().numpy(),
        "a_batch": maps[:, None].detach().cpu().numpy().astype(np.float32)
        if setting.uses_maps
        else None,
        "s_batch": segmentation,
    }


def _resolve(setting: QuantusSetting, inputs: MetricInputs) -> dict[str, Any]:
    options = dict(setting.options)
    assert inputs.images is not None  # checked in _arrays
    if options.get("subset_size") == "auto":
        options["subset_size"] = max(1, inputs.images[0].numel() // 16)
    if options.get("num_classes") == "auto":
        assert inputs.model is not None
        with torch.no_grad():
            options["num_classes"] = int(inputs.model(inputs.images[:1]).shape[-1])
    return options


def _explain_func(inputs: MetricInputs) -> Callable[..., np.ndarray]:
    """``inputs.attribute`` as Quantus' ``explain_func(model, inputs, targets, **kwargs)``."""
    attribute, base, reference = inputs.attribute, inputs.model, inputs.images
    assert attribute is not None and reference is not None

    def explain(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        x = torch.as_tensor(np.asarray(inputs), dtype=reference.dtype, device=reference.device)
        target = torch.as_tensor(np.asarray(targets), dtype=torch.int64, device=reference.device)
        with _parameters_of(model, base):
            attributions = attribute(x, target.reshape(-1))
        return attributions.detach().sum(dim=1, keepdim=True).cpu().numpy().astype(np.float32)

    return explain


@contextlib.contextmanager
def _parameters_of(model: nn.Module, base: nn.Module | None) -> Iterator[None]:
    """Load ``model``'s parameters into ``base`` for the duration, then restore ``base``'s own.

    ``inputs.attribute`` is bound to ``inputs.model``; the randomisation tests hand
    ``explain_func`` a randomised copy, so the copy's weights are lent to the bound model.
    """
    if base is None or model is base or not isinstance(model, nn.Module):
        yield
        return
    saved = {name: value.detach().clone() for name, value in base.state_dict().items()}
    try:
        base.load_state_dict(model.state_dict())
        yield
    finally:
        base.load_state_dict(saved)


@contextlib.contextmanager
def _quiet_and_isolated_rng(device: torch.device) -> Iterator[None]:
    # Quantus calls np.random.seed / torch.manual_seed and warns per image; neither may leak out.
    numpy_state = np.random.get_state()
    devices = [device] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            np.random.seed(0)
            yield
    finally:
        np.random.set_state(numpy_state)
