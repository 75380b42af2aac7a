"""ROAD's noisy linear imputation (Rong et al. 2022) and the MoRF/LeRF curves, on any channel
count; Quantus 0.6.0's ROAD fails on RGB images."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from metrics.road import (
    HIGHER_IS_BETTER,
    noisy_linear_imputation,
    road_curves,
    road_scores,
)


def _no_noise(images: torch.Tensor, removed: torch.Tensor) -> torch.Tensor:
    return noisy_linear_imputation(images, removed, noise=0.0)


def test_single_removed_pixel_is_the_weighted_mean_of_its_8_neighbours() -> None:
    image = torch.tensor([[[[1.0, 2.0, 3.0], [4.0, 99.0, 5.0], [6.0, 7.0, 8.0]]]])
    removed = torch.zeros(1, 3, 3, dtype=torch.bool)
    removed[0, 1, 1] = True
    # direct neighbours 2, 4, 5, 7 weigh 1/6; diagonal 1, 3, 6, 8 weigh 1/12
    expected = (2 + 4 + 5 + 7) / 6 + (1 + 3 + 6 + 8) / 12
    out = _no_noise(image, removed)
    assert out[0, 0, 1, 1].item() == pytest.approx(expected, abs=1e-12)
    assert torch.equal(out[~removed.unsqueeze(1)], image[~removed.unsqueeze(1)])


def test_hand_solved_3x3_system_with_two_coupled_unknowns_and_a_corner() -> None:
    """Corner (0,0) and centre removed from [[?, 1, 2], [3, ?, 4], [5, 6, 7]].

    Corner: its in-image neighbours weigh 1/6 + 1/6 + 1/12 = 5/12, so
    5/12 c = (1 + 3)/6 + m/12, i.e. 5c - m = 8. Centre: 12 m = 2 (1 + 3 + 4 + 6) + c + 2 + 5 + 7,
    i.e. 12m - c = 42. Hence c = 138/59, m = 218/59. A second channel 10x the first is imputed
    10x (one right-hand side per channel)."""
    plane = torch.tensor([[0.0, 1.0, 2.0], [3.0, 0.0, 4.0], [5.0, 6.0, 7.0]])
    image = torch.stack([plane, 10 * plane]).unsqueeze(0)
    removed = torch.tensor([[[True, False, False], [False, True, False], [False, False, False]]])
    corner, centre = Fraction(138, 59), Fraction(218, 59)
    assert 5 * corner - centre == 8 and 12 * centre - corner == 42
    out = _no_noise(image.double(), removed)
    assert out[0, :, 0, 0].tolist() == pytest.approx([float(corner), 10 * float(corner)], abs=1e-12)
    assert out[0, :, 1, 1].tolist() == pytest.approx([float(centre), 10 * float(centre)], abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_constant_image_is_imputed_with_the_constant(dtype: torch.dtype) -> None:
    images = torch.full((3, 3, 12, 12), 77, dtype=dtype)
    removed = torch.rand(3, 12, 12, generator=torch.Generator().manual_seed(0)) < 0.8
    out = _no_noise(images, removed)
    assert out.dtype == dtype
    assert torch.allclose(out.double(), images.double(), atol=1e-9)


def test_imputed_region_lies_within_the_range_of_its_neighbours() -> None:
    """Each imputed value is a weighted mean of its neighbours, so a removed block takes values
    between the extremes of the kept pixels around it (discrete maximum principle)."""
    g = torch.Generator().manual_seed(1)
    images = torch.rand(4, 2, 16, 16, generator=g, dtype=torch.float64) * 200 - 50
    removed = torch.zeros(4, 16, 16, dtype=torch.bool)
    removed[:, 4:11, 3:9] = True
    ring = torch.zeros_like(removed)
    ring[:, 3:12, 2:10] = True
    ring &= ~removed
    out = _no_noise(images, removed)
    for n in range(4):
        for c in range(2):
            border = images[n, c][ring[n]]
            inner = out[n, c][removed[n]]
            assert border.min() - 1e-9 <= inner.min() and inner.max() <= border.max() + 1e-9
            assert inner.max() - inner.min() > 1.0  # not a constant fill


def test_agrees_with_quantus_imputation_per_image() -> None:
    from quantus.functions.perturb_func import noisy_linear_imputation as quantus_imputation

    g = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (2, 3, 10, 10), generator=g).double()
    removed = torch.rand(2, 10, 10, generator=g) < 0.7
    ours = _no_noise(images, removed)
    for n in range(2):
        indices = np.flatnonzero(removed[n].numpy().ravel())
        theirs = quantus_imputation(images[n].numpy(), indices, noise=0.0)
        np.testing.assert_allclose(ours[n].numpy(), theirs, atol=1e-9)


def test_seeded_noise_is_deterministic_and_has_the_stated_std() -> None:
    images = torch.full((8, 3, 16, 16), 100, dtype=torch.uint8)
    removed = torch.zeros(8, 16, 16, dtype=torch.bool)
    removed[:, 2:14, 2:14] = True

    def run(seed: int, **kwargs: float) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        return noisy_linear_imputation(images.float(), removed, generator=generator, **kwargs)

    assert torch.equal(run(0, value_range=255.0), run(0, value_range=255.0))
    assert not torch.equal(run(0, value_range=255.0), run(1, value_range=255.0))
    deviation = run(3, value_range=255.0) - 100.0
    noise = deviation.permute(0, 2, 3, 1)[removed]
    assert noise.std().item() == pytest.approx(0.01 * 255, rel=0.05)  # 3456 draws
    assert torch.equal(deviation.permute(0, 2, 3, 1)[~removed], torch.zeros(8 * 112, 3))
    # uint8 images: default range 255, rounded and clipped
    out = noisy_linear_imputation(images, removed, generator=torch.Generator().manual_seed(3))
    assert out.dtype == torch.uint8 and 0 < (out.float() - 100).abs().max() <= 15


def _square_detector(images: torch.Tensor) -> torch.Tensor:
    """Class 1 when the central 4x4 square of an 8x8 image is bright, else class 0."""
    brightness = images[:, 0, 2:6, 2:6].float().mean(dim=(1, 2)) - 128.0
    return torch.stack([torch.zeros_like(brightness), brightness / 10], dim=1)


def test_morf_destroys_the_prediction_and_lerf_keeps_it() -> None:
    """Removing the 16 pixels of the square (25 %, MoRF under a map that ranks it first) leaves
    only the dark background to impute from; removing the least relevant 25 % keeps it."""
    images = torch.zeros(3, 1, 8, 8, dtype=torch.uint8)
    images[:, :, 2:6, 2:6] = 255
    maps = torch.zeros(3, 8, 8)
    maps[:, 2:6, 2:6] = 1.0
    targets = torch.ones(3, dtype=torch.int64)
    curves = {
        order: road_curves(
            _square_detector,
            images,
            maps,
            targets,
            (0.25,),
            order=order,
            generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        for order in ("morf", "lerf")
    }
    assert curves["morf"].correct.tolist() == [[False]] * 3
    assert curves["lerf"].correct.tolist() == [[True]] * 3
    assert bool((curves["morf"].probability < 0.01).all())
    assert bool((curves["lerf"].probability > 0.99).all())
    assert road_scores(curves["morf"]).tolist() == [0.0] * 3
    assert road_scores(curves["lerf"], "probability").min().item() > 0.99
    assert HIGHER_IS_BETTER == {"morf": False, "lerf": True}


def test_road_runs_on_rgb_where_quantus_0_6_raises_index_error() -> None:
    import quantus

    from bench.models import PaperCNN

    torch.manual_seed(0)
    model = PaperCNN(num_classes=4, image_size=8).eval()
    g = torch.Generator().manual_seed(4)
    images = torch.rand(3, 3, 8, 8, generator=g) * 2 - 1
    maps = torch.rand(3, 8, 8, generator=g)
    targets = model(images).argmax(1)
    metric = quantus.ROAD(percentages=[10, 50], disable_warnings=True, display_progressbar=False)
    with pytest.raises(IndexError, match="out of bounds"):  # perturb_func.py: mask[indices] = 0
        metric(
            model=model, x_batch=images.numpy(), y_batch=targets.numpy(),
            a_batch=maps.unsqueeze(1).numpy(), device="cpu", channel_first=True,
        )  # fmt: skip
    curves = road_curves(
        model, images, maps, targets, (0.1, 0.5), value_range=2.0,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip
    assert curves.correct.shape == (3, 2) and curves.probability.shape == (3, 2)
    assert curves.correct[:, 0].sum() >= 2  # 6 of 64 pixels removed: the prediction mostly stays
    assert bool(((curves.probability > 0) & (curves.probability < 1)).all())


def test_inputs_are_checked() -> None:
    images = torch.zeros(2, 1, 4, 4)
    removed = torch.zeros(2, 4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="removed must have shape"):
        noisy_linear_imputation(images, removed[:1])
    with pytest.raises(ValueError, match="removed must be a bool"):
        noisy_linear_imputation(images, removed.float())
    with pytest.raises(ValueError, match="keep at least one pixel"):
        noisy_linear_imputation(images, torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="noise"):
        noisy_linear_imputation(images, removed, noise=-1.0)
    with pytest.raises(ValueError, match="value_range"):
        noisy_linear_imputation(images, removed, value_range=0.0)
    maps, targets = torch.rand(2, 4, 4), torch.zeros(2, dtype=torch.int64)
    with pytest.raises(ValueError, match="order"):
        road_curves(_square_detector, images, maps, targets, order="random")
    with pytest.raises(ValueError, match="at least one pixel"):
        road_curves(_square_detector, images, maps, targets, (0.5, 0.99))
    with pytest.raises(ValueError, match="targets"):
        road_curves(_square_detector, images, maps, targets[:1])
    with pytest.raises(ValueError, match="statistic"):
        road_scores(road_curves(_square_detector, images, maps, targets, (0.5,)), "auc")
    assert torch.equal(_no_noise(images, removed), images)  # nothing removed: unchanged
