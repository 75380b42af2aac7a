"""Hand-computed cases for the paper's map scores, and agreement with Quantus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from metrics import background_mass, patch_attribution, total_variation

MAP = torch.tensor([[[1.0, -2.0, 0.0], [3.0, 4.0, -1.0], [0.0, 0.0, 2.0]]])
# |MAP| sums to 13.
FG = torch.tensor([[[True, False, False], [False, True, False], [False, False, True]]])


def test_patch_attribution_sums_abs_inside_box() -> None:
    # box rows 0-1, cols 1-2: |-2| + 0 + 4 + |-1| = 7
    assert patch_attribution(MAP, (0, 1, 2, 2)).tolist() == [7.0]


def test_patch_attribution_default_is_paper_top_left_8x8() -> None:
    maps = torch.zeros(2, 32, 32, dtype=torch.float64)
    maps[:, :8, :8] = -0.5
    maps[:, 8:, :] = 10.0  # outside the 8x8 box: must not count
    maps[1, 0, 0] = 3.0
    assert patch_attribution(maps).tolist() == [32.0, 32.0 - 0.5 + 3.0]


def test_background_mass_raw_and_normalised() -> None:
    # off-diagonal |values|: 2 + 0 + 3 + 1 + 0 + 0 = 6; total 13
    assert background_mass(MAP, FG).tolist() == [6.0]
    assert background_mass(MAP, FG, normalize=True).item() == pytest.approx(6.0 / 13.0)


def test_total_variation_matches_tf_definition_by_hand() -> None:
    # vertical |diffs|: col0 |3-1|+|0-3| = 5, col1 |4+2|+|0-4| = 10, col2 |-1-0|+|2+1| = 4 -> 19
    # horizontal: row0 |-2-1|+|0+2| = 5, row1 |4-3|+|-1-4| = 6, row2 0+2 = 2 -> 13
    assert total_variation(MAP).tolist() == [32.0]
    assert total_variation(MAP, normalize=True).item() == pytest.approx(32.0 / 13.0)


def test_total_variation_is_batched_per_image() -> None:
    maps = torch.stack([MAP[0], torch.zeros(3, 3), torch.ones(3, 3)]).double()
    assert total_variation(maps).tolist() == [32.0, 0.0, 0.0]
    assert maps.dtype == total_variation(maps).dtype


def test_zero_map_normalised_is_nan_with_one_warning() -> None:
    maps = torch.stack([MAP[0], torch.zeros(3, 3)])
    fg = FG.expand(2, 3, 3)
    with pytest.warns(RuntimeWarning, match="1 of 2") as record:
        values = background_mass(maps, fg, normalize=True)
    assert len(record) == 1
    assert values[0].item() == pytest.approx(6.0 / 13.0) and torch.isnan(values[1])
    with pytest.warns(RuntimeWarning, match="1 of 2"):
        assert torch.isnan(total_variation(maps, normalize=True)[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_background_fraction_equals_one_minus_quantus_relevance_mass_accuracy(seed: int) -> None:
    quantus = pytest.importorskip("quantus")
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(16, 12, 12, generator=g, dtype=torch.float64)
    fg = torch.rand(16, 12, 12, generator=g) > 0.6
    fg[:, 0, 0] = True  # Quantus gives NaN for empty masks
    ours = background_mass(maps, fg, normalize=True).numpy()
    rma = quantus.RelevanceMassAccuracy(abs=True, disable_warnings=True)(
        model=None,
        x_batch=np.zeros((16, 3, 12, 12), dtype=np.float32),
        y_batch=np.zeros(16, dtype=np.int64),
        a_batch=maps[:, None].numpy(),
        s_batch=fg[:, None].numpy(),
    )
    np.testing.assert_allclose(ours, 1.0 - np.asarray(rma), rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("maps", "match"),
    [
        (torch.zeros(3, 3), "maps must have shape"),
        (torch.zeros(1, 3, 3, dtype=torch.int64), "maps must be a floating"),
        (torch.zeros(0, 3, 3), "maps is an empty batch"),
        (torch.tensor([[[float("nan")]]]), "maps contains NaN"),
        (np.zeros((1, 3, 3)), "maps must be a torch.Tensor"),
    ],
)
def test_bad_maps_raise_value_error_naming_maps(maps: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        total_variation(maps)  # type: ignore[arg-type]


def test_bad_masks_and_boxes_raise() -> None:
    with pytest.raises(ValueError, match="foreground must have the maps' shape"):
        background_mass(MAP, torch.ones(1, 3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="foreground must have dtype torch.bool"):
        background_mass(MAP, torch.ones(1, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        patch_attribution(MAP, (0, 0, 8, 8))
    with pytest.raises(ValueError, match="box"):
        patch_attribution(MAP, (0, 0, 0, 1))


def test_large_finite_maps_pass_and_infinite_maps_fail() -> None:
    # the sum overflows to inf in float32, yet every entry is finite: the exact check must decide
    huge = torch.full((1, 3, 3), 3e38)
    assert total_variation(huge).tolist() == [0.0]
    with pytest.raises(ValueError, match="maps contains NaN or infinite"):
        total_variation(torch.tensor([[[1.0, float("inf")]]]))
