"""How to draw and read each experiment of the stored ``curves`` table.

The table stores numbers only (experiment, method, series, x, value, low, high); the axis texts,
their directions and the sentence under each figure live here, one entry per experiment the
runner writes. An experiment without an entry is still drawn, with generic axes and a note.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXPERIMENTS", "Experiment", "experiment"]


@dataclass(frozen=True)
class Experiment:
    """Display facts of one experiment.

    Attributes:
        title: The figure's title.
        x_label: The x axis, with its direction where it has one.
        y_label: The y axis with its direction (``"(↓ lower is better)"``); a series that is a
            stored metric id uses the metric's own axis label instead.
        reading: How to read the figure and what would make it suspicious.
        series_as_lines: Draw every series as a line of one panel (else one panel per series).
    """

    title: str
    x_label: str
    y_label: str
    reading: str
    series_as_lines: bool = False


EXPERIMENTS: dict[str, Experiment] = {
    "threshold_sweep": Experiment(
        "RectGrad's threshold percentile q swept",
        "percentile q of RectGrad's layer-wise threshold (→ more is cut)",
        "score",
        "Each panel is one metric, as the threshold percentile q grows (q = 0: every positive "
        "a·R passes). A scale-dependent score should fall as q rises because more of the map is "
        "zeroed; the paper's setting is one point on this line. Suspicious: a score that does "
        "not move at all (the threshold is not applied) or a jump at one q only.",
    ),
    "feature_occlusion": Experiment(
        "Feature-map occlusion (paper Figure 3)",
        "share of the layer's units zeroed (→ more occluded)",
        "logit margin of the target class (↑ the decision is kept)",
        "Object and background lines: the margin while a growing random share of the layer's "
        "object (or background) units is zeroed; bands over trials. The paper's premise holds "
        "when the object line falls much faster than the background line. Suspicious: the "
        "background line falling as fast as the object line (the mask or the layer is wrong).",
        series_as_lines=True,
    ),
    "noise_accumulation": Experiment(
        "Noise accumulation through the layers (paper Figure 6)",
        "layer (0 = input, then each ReLU's input, deeper →)",
        "share of |z·∂y/∂z| off the object (↓ lower is better)",
        "One line per method: the share of the attribution mass that lies off the object at "
        "each layer. RectGrad should keep it low through the layers while Saliency's grows "
        "towards the input. Suspicious: identical lines for both methods (the rules are not "
        "applied) or shares above 1.",
    ),
}


def experiment(name: str) -> Experiment:
    """The entry of ``name``, or generic axes saying the direction is not stored."""
    return EXPERIMENTS.get(
        name,
        Experiment(
            name.replace("_", " "),
            "x",
            "value (direction not stored)",
            f"No reading guide is registered for the experiment {name!r} "
            "(reports/experiments.py); the axes are the stored x and value.",
        ),
    )
