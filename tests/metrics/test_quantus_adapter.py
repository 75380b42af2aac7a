"""Every Quantus entry runs on a tiny untrained CNN and returns one finite value per image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.models import PaperCNN
from metrics import MetricInputs, available_metrics, background_mass, metric_spec

pytest.importorskip("quantus")
N = 4


@pytest.fixture(scope="module")
def inputs() -> MetricInputs:
    torch.manual_seed(0)
    model = PaperCNN(image_size=16).eval()
    images = torch.rand(N, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1

    def gradient_times_input(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(model(x).gather(1, target[:, None]).sum(), x)
        return grad * x.detach()

    with torch.no_grad():
        targets = model(images).argmax(1)
    fg = torch.zeros(N, 16, 16, dtype=torch.bool)
    fg[:, 3:11, 4:12] = True
    return MetricInputs(
        maps=gradient_times_input(images, targets).sum(1),
        model=model,
        images=images,
        labels=targets,
        targets=targets,
        foreground=fg,
        attribute=gradient_times_input,
    )


@pytest.mark.parametrize(
    "name", [n for n in available_metrics("per_image") if n.startswith("quantus.")]
)
def test_quantus_entry_gives_finite_value_per_image(name: str, inputs: MetricInputs) -> None:
    weights = {k: v.clone() for k, v in inputs.model.state_dict().items()}
    numpy_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    values = metric_spec(name).compute(inputs)
    assert values.shape == (N,) and bool(torch.isfinite(values).all()), values
    # no side effects: the model's weights and the global random states are as before
    assert all(torch.equal(weights[k], v) for k, v in inputs.model.state_dict().items())
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert torch.equal(torch.get_rng_state(), torch_state)
    # deterministic
    assert torch.equal(metric_spec(name).compute(inputs), values)


def test_relevance_mass_accuracy_is_one_minus_background_fraction(inputs: MetricInputs) -> None:
    rma = metric_spec("quantus.RelevanceMassAccuracy").compute(inputs)
    fraction = background_mass(inputs.maps.double(), inputs.foreground, normalize=True)
    torch.testing.assert_close(rma, 1 - fraction, rtol=0, atol=1e-6)


def test_pointing_game_by_hand(inputs: MetricInputs) -> None:
    maps = torch.zeros(N, 16, 16)
    maps[0, 5, 5] = 1.0  # inside the object
    maps[1, 0, 0] = 1.0  # outside
    maps[2, 10, 11] = 2.0  # inside (last row / column of the mask)
    maps[3, 11, 11] = 2.0  # just outside
    hits = metric_spec("quantus.PointingGame").compute(
        MetricInputs(
            maps, inputs.model, inputs.images, inputs.labels, inputs.targets, inputs.foreground
        )
    )
    assert hits.tolist() == [1.0, 0.0, 1.0, 0.0]


def test_empty_foreground_is_nan_not_a_hit(inputs: MetricInputs) -> None:
    fg = inputs.foreground.clone()
    fg[1] = False
    changed = MetricInputs(
        inputs.maps, inputs.model, inputs.images, inputs.labels, inputs.targets, fg
    )
    with pytest.warns(RuntimeWarning, match="1 of 4"):
        hits = metric_spec("quantus.PointingGame").compute(changed)
    assert torch.isnan(hits[1]) and not torch.isnan(hits[[0, 2, 3]]).any()
