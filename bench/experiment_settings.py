"""The settings of the paper's other experiments and of the validity controls, parsed and checked.

- ``RunConfig.experiments``: which of :data:`EXPERIMENT_NAMES` run (each is a stage of
  :data:`bench.runner.PIPELINE`).
- ``RunConfig.sweeps``: ``"method.setting=v1,v2,..."`` (the ``--sweep`` option): the method is
  re-scored at each value of one setting, every other setting at its default. A value written
  ``other=v`` sets *another* setting instead and is drawn as a labelled endpoint: the default
  sweep ``rectgrad.percentile=0,50,...,99.5,tau=0`` ends with the constant threshold tau = 0
  (the paper's Claim 2: Guided Backprop x input), beside q = 0 (the per-layer minimum as
  threshold, which is *not* Claim 2).
- ``evaluation.map_rule``, ``uniform_percentile``, ``blur_sigma`` and the ``occlusion_*`` values.

:func:`experiment_problems` lists what cannot work, for :func:`bench.validate.validate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from bench.config import RunConfig
from methods import create_method, resolve_method

__all__ = [
    "EXPERIMENT_NAMES",
    "SweepPoint",
    "Sweep",
    "parse_sweep",
    "default_occlusion_layer",
    "experiment_problems",
    "with_sweeps",
]

#: The experiments a run can add (``RunConfig.experiments``), with what each stores.
EXPERIMENT_NAMES: dict[str, str] = {
    "feature_occlusion": "paper Fig. 3: margin curves as object / background units are zeroed",
    "noise_accumulation": "paper Fig. 6: share of attribution mass off the object per layer",
    "threshold_sweep": "paper Fig. 4: a method re-scored along one setting (RunConfig.sweeps)",
}


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep: where it is drawn (``x``, and ``label`` when x is only a position)
    and the settings that differ from the method's defaults."""

    x: float
    label: str | None
    overrides: Mapping[str, Any] = field(hash=False)


@dataclass(frozen=True)
class Sweep:
    """A parsed ``"method.setting=values"``."""

    method: str
    setting: str
    points: tuple[SweepPoint, ...]

    @property
    def experiment(self) -> str:
        """The sweep's name in the ``curves`` table: ``"sweep:<method>.<setting>"``."""
        return f"sweep:{self.method}.{self.setting}"


def _value(text: str) -> Any:
    """A setting's value from text: true/false, none, an int, a float, else the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def parse_sweep(text: str) -> Sweep:
    """Parse ``"method.setting=v1,v2,...[,other=v]"`` (no check against the registry).

    Numeric values are drawn at x = the value; other values (true/false, text) at their position
    0, 1, ...; each ``other=v`` item at the left of the numeric range (10 % of the span per
    endpoint), labelled ``"other=v"``.

    Raises:
        ValueError: The text is not of that form, or names no value.
    """
    head, sep, values = text.partition("=")
    method, dot, setting = head.strip().rpartition(".")
    items = [item.strip() for item in values.split(",") if item.strip()]
    if not sep or not dot or not method or not setting or not items:
        raise ValueError(f"a sweep must read 'method.setting=v1,v2,...', got {text!r}")
    plain = [(item, _value(item)) for item in items if "=" not in item]
    numeric = all(_is_number(v) for _, v in plain)
    points: list[SweepPoint] = []
    for position, (item, value) in enumerate(plain):
        x, label = (float(value), None) if numeric else (float(position), item)
        points.append(SweepPoint(x, label, {setting: value}))
    xs = [p.x for p in points] or [0.0]
    low, span = min(xs), (max(xs) - min(xs)) or 1.0
    endpoints = [item for item in items if "=" in item]
    for j, item in enumerate(endpoints):
        name, _, raw = item.partition("=")
        points.append(SweepPoint(low - 0.1 * span * (j + 1), f"{name.strip()}={raw.strip()}",
                                 {name.strip(): _value(raw)}))
    if len({p.x for p in points}) != len(points):
        raise ValueError(f"sweep {text!r} names a value twice")
    return Sweep(method.strip(), setting.strip(), tuple(points))


def default_occlusion_layer(model: nn.Module) -> str:
    """Where feature-map occlusion acts by default: the output of the first conv block, i.e. the
    first ``nn.MaxPool2d`` module (registration order; the paper CNN's ``features.4``, after
    conv-ReLU-conv-ReLU-pool), else the first ``nn.ReLU`` module.

    Raises:
        ValueError: ``model`` has neither; name a layer with ``evaluation.occlusion_layer``.
    """
    for kind in (nn.MaxPool2d, nn.ReLU):
        for name, module in model.named_modules():
            if isinstance(module, kind):
                return name
    raise ValueError("the model has no nn.MaxPool2d or nn.ReLU module; name the occluded layer "
                     "with evaluation.occlusion_layer")


def with_sweeps(config: RunConfig, sweeps: list[str] | None) -> RunConfig:
    """``config`` with ``sweeps`` (the ``--sweep`` options) as its sweeps and the threshold sweep
    among its experiments; ``config`` itself when none is given."""
    if not sweeps:
        return config
    experiments = tuple(dict.fromkeys((*config.experiments, "threshold_sweep")))
    return replace(config, sweeps=tuple(sweeps), experiments=experiments)


Problem = tuple[str, str, str]  # (setting, what is wrong, the fix)


def experiment_problems(config: RunConfig) -> list[Problem]:
    """What in ``config``'s experiment and control settings cannot work (empty: all can)."""
    ev = config.evaluation
    problems: list[Problem] = []
    if ev.map_rule not in ("paper", "uniform", "both"):
        problems.append(("evaluation.map_rule", f"is {ev.map_rule!r}",
                         "use 'paper', 'uniform' or 'both'"))
    if not _is_number(ev.uniform_percentile) or not 0 <= ev.uniform_percentile <= 100:
        problems.append(("evaluation.uniform_percentile", f"must be a number in [0, 100], got "
                         f"{ev.uniform_percentile!r}", "e.g. 95"))
    if not _is_number(ev.blur_sigma) or ev.blur_sigma < 0:
        problems.append(("evaluation.blur_sigma", f"must be a number >= 0 (pixels), got "
                         f"{ev.blur_sigma!r}", "e.g. 1.0"))
    for setting, value, low in (("evaluation.occlusion_trials", ev.occlusion_trials, 1),
                                ("evaluation.occlusion_steps", ev.occlusion_steps, 2),
                                ("evaluation.occlusion_images", ev.occlusion_images, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            problems.append((setting, f"must be an integer >= {low}, got {value!r}",
                             f"set it to {low} or more"))
    unknown = [name for name in config.experiments if name not in EXPERIMENT_NAMES]
    if unknown:
        problems.append(("experiments", f"names unknown experiment(s) {', '.join(unknown)}",
                         f"use some of {', '.join(EXPERIMENT_NAMES)}"))
    if set(config.experiments) & {"feature_occlusion", "noise_accumulation"} and (
        config.data.source == "cifar10" and not config.data.masks
    ):
        problems.append(("data.masks", "feature_occlusion and noise_accumulation need object "
                         "masks, and CIFAR-10 has none without the authors' mask file",
                         "pass --masks CIFAR10_mask.tar, or drop those experiments"))
    for text in config.sweeps:
        problems += _sweep_problems(text)
    return problems


def _sweep_problems(text: str) -> list[Problem]:
    try:
        sweep = parse_sweep(text)
        spec = resolve_method(sweep.method)
    except (ValueError, KeyError) as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        return [("sweeps", message, "write 'method.setting=v1,v2,...', e.g. "
                 "'rectgrad.percentile=0,50,98'")]
    for point in sweep.points:
        unknown = [name for name in point.overrides if name not in spec.defaults]
        if unknown:
            return [("sweeps", f"{text!r}: method {sweep.method!r} has no setting "
                     f"{', '.join(unknown)}", f"use one of {', '.join(spec.defaults) or '(none)'}")]
        try:  # the method's own checks of its settings, on a stand-in model
            create_method(sweep.method, nn.Identity(), **point.overrides)
        except (ValueError, TypeError) as exc:
            return [("sweeps", f"{text!r}: {exc}", "choose values the method accepts")]
    return []
