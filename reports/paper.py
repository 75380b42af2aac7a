"""The RectGrad paper's published numbers (Table 1) and when a run is comparable to them."""

from __future__ import annotations

from .store import RunInfo

__all__ = ["PAPER_LABELS", "PAPER_PRESET", "PUBLISHED_TABLE1", "follows_paper"]

#: The preset that runs the paper's full protocol (PROTOCOL.md); only its scores are comparable.
PAPER_PRESET = "paper"

#: Table 1 of Kim et al. (2019) as copied in ../shared/PROTOCOL.md, keyed by registry name:
#: (ROAR AUC, KAR AOC), both lower is better.
PUBLISHED_TABLE1: dict[str, tuple[float, float]] = {
    "random": (0.5562, 0.4438),
    "rectgrad": (0.5385, 0.3382),
    "saliency": (0.5568, 0.4455),
    "guided_backprop": (0.5504, 0.4270),
    "smoothgrad": (0.5536, 0.4444),
    "grad_x_input": (0.5408, 0.4176),
    "integrated_gradients": (0.5428, 0.4185),
    "deeplift": (0.5519, 0.3928),
}


#: The paper's names of the methods of Table 1 (used for rows of methods this run did not have).
PAPER_LABELS: dict[str, str] = {
    "random": "Random",
    "rectgrad": "RectGrad",
    "saliency": "Saliency Map",
    "guided_backprop": "Guided BP",
    "smoothgrad": "SmoothGrad",
    "grad_x_input": "Gradient * Input",
    "integrated_gradients": "IntegGrad",
    "deeplift": "DeepLIFT",
}


def follows_paper(run: RunInfo) -> bool:
    """Whether the run used the paper's protocol (its preset is :data:`PAPER_PRESET`)."""
    return run.preset == PAPER_PRESET
