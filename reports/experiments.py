"""How to draw and read each experiment of the stored ``curves`` table.

The table stores numbers only (experiment, method, series, x, value, low, high); the axis texts,
their directions and the sentence under each figure live here, one entry per experiment the
runner writes. An experiment without an entry is still drawn, with generic axes and a note.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXPERIMENTS", "SWEEP_READING", "Experiment", "experiment"]


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
    "sweep:rectgrad.percentile": Experiment(
        "RectGrad's threshold percentile q swept (paper Figure 4)",
        "percentile q of RectGrad's layer-wise threshold (→ more is cut)",
        "score",
        "Each panel is one metric at RectGrad's threshold percentile q (line, median over images "
        "with its 95 % bootstrap band; every other setting at the run's default, the paper's "
        "q = 98 included). q = 0 thresholds each layer at its minimum of a·R: nearly every unit "
        "passes its gradient, inactive ones included, so it is not Guided Backprop. The separate "
        "point tau=0 is the constant threshold 0 (the paper's Claim 2: Guided Backprop × input "
        "with the final zero threshold, exactly so without the padding trick). A scale-dependent "
        "score should fall as q rises because more of the map is zeroed. Suspicious: a score "
        "that does not move at all (the threshold is not applied) or a jump at one q only.",
    ),
    "feature_occlusion": Experiment(
        "Feature-map occlusion (paper Figure 3)",
        "share of the layer's units zeroed (→ more occluded)",
        "logit margin of the class (↑ the decision is kept)",
        "Object and background lines: the margin of the true class over the largest other logit "
        "while a growing random share of the layer's object (or background) units is zeroed; "
        "the mean over images, bands: its 95 % bootstrap interval. The paper's premise holds "
        "when the object line falls much faster than the background line. Suspicious: the "
        "background line falling as fast as the object line (the mask or the layer is wrong).",
        series_as_lines=True,
    ),
    "noise_accumulation": Experiment(
        "Noise accumulation through the layers (paper Figure 6)",
        "layer (the input, then each ReLU's input, deeper →)",
        "share of |z·∂y/∂z| off the object (↓ lower is better)",
        "One line per method: the median share of the attribution mass that lies off the object "
        "at each layer, with its 95 % bootstrap band over images. RectGrad should keep it low "
        "through the layers while Saliency's grows towards the input. Suspicious: identical "
        "lines for both methods (the rules are not applied) or shares above 1.",
    ),
}

#: The reading of a sweep of any other method setting (experiments named ``sweep:<m>.<s>``).
SWEEP_READING = (
    "Each panel is one metric as the method's setting {setting} takes the swept values (median "
    "over images with its 95 % bootstrap band; every other setting at its default). Separate "
    "labelled points set another setting instead. Suspicious: a score that does not move at "
    "all (the setting is not applied)."
)


def experiment(name: str) -> Experiment:
    """The entry of ``name`` (a generic one for any ``sweep:<method>.<setting>``), or generic
    axes saying the direction is not stored."""
    if name not in EXPERIMENTS and name.startswith("sweep:"):
        method, _, setting = name.removeprefix("sweep:").rpartition(".")
        return Experiment(f"{method}: {setting} swept", f"{setting} of {method}", "score",
                          SWEEP_READING.format(setting=setting))
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
