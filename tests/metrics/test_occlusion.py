"""Occlusion: hand cases and properties (exact counts, ROAR/KAR complementary, no side effects)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import occlude, pixel_count, random_occlude, top_fraction_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_roar_replaces_top_pixels_and_kar_the_rest() -> None:
    images = torch.arange(1, 1 + 2 * 4, dtype=torch.uint8).reshape(1, 2, 2, 2)
    maps = torch.tensor([[[0.1, 0.9], [0.5, 0.2]]])
    roar = occlude(images, maps, 0.5, fill=[100, 200])  # top-2 pixels: (0,1) and (1,0)
    assert roar[0, 0].tolist() == [[1, 100], [100, 4]]
    assert roar[0, 1].tolist() == [[5, 200], [200, 8]]
    kar = occlude(images, maps, 0.5, keep=True, fill=[100, 200])
    assert kar[0, 0].tolist() == [[100, 2], [3, 100]]
    assert roar.dtype == torch.uint8


def test_fill_is_rounded_to_uint8_and_used_per_channel_for_floats() -> None:
    images = torch.zeros(1, 3, 1, 2, dtype=torch.uint8)
    out = occlude(images, torch.tensor([[[1.0, 0.0]]]), 0.5, fill=torch.tensor([125.3, 122.9, 0.4]))
    assert out[0, :, 0, 0].tolist() == [125, 123, 0]
    floats = torch.zeros(1, 2, 1, 2, dtype=torch.float64)
    out = occlude(floats, torch.tensor([[[0.0, 1.0]]]), 0.5, fill=[0.25, -0.5])
    assert out[0, :, 0, 1].tolist() == [0.25, -0.5] and out[0, :, 0, 0].tolist() == [0.0, 0.0]


def test_count_uses_round_half_to_even() -> None:
    assert pixel_count(0.1, 32, 32) == 102  # 102.4
    assert pixel_count(0.5, 1, 5) == 2  # 2.5 -> 2
    assert pixel_count(0.3, 1, 5) == 2  # 1.5 -> 2
    assert pixel_count(0.9, 1, 5) == 4  # 4.5 -> 4
    assert pixel_count(1.0, 3, 3) == 9 and pixel_count(0.0, 3, 3) == 0


def test_ties_are_broken_at_random_but_exactly_and_reproducibly() -> None:
    maps = torch.zeros(200, 4, 4)  # all tied
    masks = top_fraction_mask(maps, 0.25, _gen(0))
    assert masks.sum(dim=(1, 2)).eq(4).all()
    # every position gets chosen sometimes: the tie-break is not positional
    assert masks.any(dim=0).all()
    assert torch.equal(masks, top_fraction_mask(maps, 0.25, _gen(0)))
    assert not torch.equal(masks, top_fraction_mask(maps, 0.25, _gen(1)))


def test_tie_break_never_reorders_distinct_values() -> None:
    maps = torch.tensor([[[1.0, 1.0, 1.0, 1.0 + 1e-7, 0.0]]])
    for seed in range(5):
        mask = top_fraction_mask(maps, 0.4, _gen(seed))  # k = 2
        assert mask[0, 0, 3] and mask[0, 0, :3].sum() == 1 and not mask[0, 0, 4]


def test_random_occlude_exact_counts() -> None:
    images = torch.full((5, 3, 8, 8), 255, dtype=torch.uint8)
    out = random_occlude(images, 0.3, fill=[0, 0, 0], generator=_gen(3))
    assert (out[:, 0] == 0).sum(dim=(1, 2)).tolist() == [19] * 5
    kar = random_occlude(images, 0.3, keep=True, fill=[0, 0, 0], generator=_gen(3))
    assert torch.equal((kar[:, 0] == 0), ~(out[:, 0] == 0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"fraction": 1.5}, "fraction must be in"),
        ({"fraction": -0.1}, "fraction must be in"),
        ({"maps": torch.zeros(2, 4, 5)}, "maps must have shape"),
        ({"fill": [0, 0]}, "fill must have one value per channel"),
        ({"fill": [300, 0, 0]}, r"fill must lie in \[0, 255\]"),
        ({"images": torch.zeros(2, 3, 4, 4, dtype=torch.int32)}, "images must be uint8"),
        ({"images": torch.zeros(0, 3, 4, 4, dtype=torch.uint8)}, "images is an empty batch"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs: dict, match: str) -> None:
    args = {
        "images": torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
        "maps": torch.zeros(2, 4, 4),
        "fraction": 0.5,
        "fill": [0, 0, 0],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        occlude(args["images"], args["maps"], args["fraction"], fill=args["fill"])


shapes = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 6), st.integers(1, 6))


@settings(max_examples=40, deadline=None)
@given(shape=shapes, fraction=st.floats(0, 1), seed=st.integers(0, 2**31), ties=st.booleans())
def test_occlude_properties(shape: tuple, fraction: float, seed: int, ties: bool) -> None:
    n, c, h, w = shape
    g = _gen(seed)
    # values 1..255 and fill 0: a replaced pixel is recognisable in every channel
    images = torch.randint(1, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    maps = (
        torch.randint(0, 3, (n, h, w), generator=g).float()
        if ties
        else torch.randn(n, h, w, generator=g)
    )
    original, original_maps = images.clone(), maps.clone()
    fill = [0] * c
    k = round(fraction * h * w)

    roar = occlude(images, maps, fraction, fill=fill, generator=_gen(seed))
    kar = occlude(images, maps, fraction, keep=True, fill=fill, generator=_gen(seed))
    removed, kar_removed = roar[:, 0] == 0, kar[:, 0] == 0

    assert removed.sum(dim=(1, 2)).eq(k).all()  # exact count per image
    assert kar_removed.sum(dim=(1, 2)).eq(h * w - k).all()
    assert torch.equal(removed, ~kar_removed)  # complementary
    assert torch.equal((roar == 0), removed.unsqueeze(1).expand_as(roar))  # all channels together
    assert torch.equal(images, original) and torch.equal(maps, original_maps)  # untouched
    # the removed pixels are the top-ranked: none kept has a larger value than one removed
    if 0 < k < h * w:
        flat, gone = maps.reshape(n, -1), removed.reshape(n, -1)
        lowest_removed = flat.masked_fill(~gone, float("inf")).min(dim=1).values
        highest_kept = flat.masked_fill(gone, float("-inf")).max(dim=1).values
        assert (lowest_removed >= highest_kept).all()
    # deterministic per seed
    assert torch.equal(roar, occlude(images, maps, fraction, fill=fill, generator=_gen(seed)))
