"""Class sensitivity (paper Fig. 5b as a number): FGSM, Spearman, and the score on known cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from scipy.stats import spearmanr
from torch import nn

from methods import SobelAttribution
from metrics.class_sensitivity import class_sensitivity, fgsm, spearman


class _Opposed(nn.Module):
    """Two logits ``(w.x, -w.x)``: the saliency maps of the two classes are ``w`` and ``-w``."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x * self.w).flatten(1).sum(1)
        return torch.stack([s, -s], dim=1)


def _opposed_case() -> tuple[_Opposed, torch.Tensor]:
    w = torch.arange(1.0, 17.0, dtype=torch.float64).view(1, 1, 4, 4)  # distinct ranks
    x = torch.zeros(3, 1, 4, 4, dtype=torch.float64)
    x[0] += 0.001  # w.x = 0.136 < 0.02 * sum(w) = 2.72: the FGSM step flips class 0 -> 1
    x[1] -= 0.001  # class 1 -> 0
    x[2] += 0.5  # w.x = 68: far from the boundary, class 0 stays
    return _Opposed(w), x


def _saliency(model: nn.Module):
    sal = Saliency(model)

    def attribute(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return sal.attribute(inputs, target=target, abs=False)

    return attribute


def _sobel(inputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return SobelAttribution().attribute(inputs, target=target)


def test_average_ranks_and_spearman_by_hand() -> None:
    a = torch.tensor([[1.0, 2.0, 2.0, 3.0]])
    # ranks of a: 1, 2.5, 2.5, 4; of b = reversed order: 4, 3, 2, 1
    # centred: (-1.5, 0, 0, 1.5) . (1.5, 0.5, -0.5, -1.5) = -4.5; norms sqrt(4.5), sqrt(5)
    b = torch.tensor([[0.0, -1.0, -2.0, -3.0]])
    assert spearman(a, b).item() == pytest.approx(-4.5 / np.sqrt(4.5 * 5.0))
    assert spearman(a, a).item() == pytest.approx(1.0)


def test_spearman_matches_scipy_with_ties() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 6, (5, 40), generator=g).double()  # many ties
    b = a + torch.randn(5, 40, generator=g, dtype=torch.float64) * 2
    ours = spearman(a, b)
    for i in range(5):
        assert ours[i].item() == pytest.approx(spearmanr(a[i].numpy(), b[i].numpy())[0], abs=1e-12)


def test_spearman_of_a_constant_row_is_nan() -> None:
    assert torch.isnan(spearman(torch.ones(1, 5), torch.arange(5.0).view(1, 5))).all()


def test_fgsm_steps_two_percent_against_the_predicted_class_and_clamps() -> None:
    model, x = _opposed_case()
    before = x.clone()
    adv, original, new = fgsm(model, x)
    # image 0 is class 0 (w.x > 0): the loss of class 0 rises as w.x falls, so the step is -0.02
    # (w > 0 everywhere); image 1 is class 1 and steps +0.02; image 2 steps -0.02 but stays class 0
    assert original.tolist() == [0, 1, 0] and new.tolist() == [1, 0, 0]
    expected = torch.tensor([-0.02, 0.02, -0.02], dtype=torch.float64).view(3, 1, 1, 1)
    torch.testing.assert_close(adv - x, expected.expand_as(x))
    assert torch.equal(x, before) and model.w.grad is None
    # clamping: class 1 at -0.5 everywhere, a step of 2.0 (epsilon 1) lands at 1.5 -> 1.0
    adv_c, _, _ = fgsm(model, torch.full((1, 1, 4, 4), -0.5, dtype=torch.float64), epsilon=1.0)
    assert torch.equal(adv_c, torch.ones(1, 1, 4, 4, dtype=torch.float64))


def test_opposed_maps_score_two_and_unchanged_image_is_nan_with_one_warning() -> None:
    # saliency maps of the two classes are w and -w: Spearman -1 -> score 2, in both pairings
    model, x = _opposed_case()
    for compare in ("target", "image"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = class_sensitivity(model, x, _saliency(model), compare=compare)
        mine = [w for w in caught if "class_sensitivity" in str(w.message)]
        assert len(mine) == 1 and "1 of 3" in str(mine[0].message)
        assert scores[:2].tolist() == pytest.approx([2.0, 2.0]) and torch.isnan(scores[2])
        assert scores.dtype == x.dtype


def test_sobel_scores_exactly_zero_when_only_the_target_changes(shapes16_case) -> None:
    case = shapes16_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        target = class_sensitivity(case.model, case.images, _sobel, epsilon=0.03)
        image = class_sensitivity(case.model, case.images, _sobel, epsilon=0.03, compare="image")
    flipped = ~torch.isnan(target)
    assert int(flipped.sum()) >= 10  # 17 on the reference machine
    assert target[flipped].abs().max().item() < 1e-12
    # the paper's pairing: the Sobel map follows the 3 % perturbation a little
    assert 0 < image[flipped].min().item() and image[flipped].max().item() < 0.2  # 0.02-0.10


def test_saliency_is_clearly_class_sensitive_on_a_trained_model(shapes16_case) -> None:
    case = shapes16_case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = class_sensitivity(case.model, case.images, _saliency(case.model), epsilon=0.03)
    flipped = scores[~torch.isnan(scores)]
    # mean 1.2 on the reference machine: the two classes' signed gradients are anti-correlated
    assert flipped.numel() >= 10 and flipped.median().item() > 0.8


def test_default_epsilon_is_one_percent_of_the_range(shapes16_case) -> None:
    case = shapes16_case
    adv, _, _ = fgsm(case.model, case.images)
    inside = (case.images.abs() < 0.97)
    assert torch.allclose((adv - case.images)[inside].abs(), torch.tensor(0.02), atol=1e-6)
    adv255, _, _ = fgsm(case.model, (case.images + 1) * 127.5, value_range=(0, 255))
    assert (adv255 - (case.images + 1) * 127.5).abs().max().item() == pytest.approx(2.55, abs=1e-4)


def test_constant_maps_are_nan_and_counted_in_the_warning() -> None:
    model, x = _opposed_case()
    with pytest.warns(RuntimeWarning, match=r"3 of 3 .*\(1 images whose class .* 2 with a constant"):
        scores = class_sensitivity(model, x, lambda i, t: torch.zeros_like(i))
    assert torch.isnan(scores).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0.0}, "epsilon must be a finite number > 0"),
        ({"epsilon": True}, "epsilon must be a number > 0"),
        ({"value_range": (1, -1)}, "value_range must be finite with low < high"),
        ({"value_range": 3}, "value_range must be a pair"),
        ({"compare": "both"}, "compare must be 'target' or 'image'"),
    ],
)
def test_bad_arguments_raise(kwargs, message) -> None:
    model, x = _opposed_case()
    with pytest.raises(ValueError, match=message):
        class_sensitivity(model, x, _sobel, **kwargs)


def test_bad_images_and_attribute_output_raise() -> None:
    model, x = _opposed_case()
    with pytest.raises(ValueError, match="images must be a floating tensor"):
        class_sensitivity(model, x[0], _sobel)
    with pytest.raises(ValueError, match="attribute must return a tensor shaped like its inputs"):
        class_sensitivity(model, x, lambda i, t: i.sum(1))
