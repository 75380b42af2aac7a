"""The paper's random-patch variant: one seeded 10x10 patch of uniform integers at the top-left."""

from __future__ import annotations

import pytest
import torch

from bench.data import add_patch, make_patch


def test_make_patch_is_seeded_uniform_uint8() -> None:
    patch = make_patch(seed=3)
    assert patch.shape == (3, 10, 10) and patch.dtype == torch.uint8
    assert torch.equal(patch, make_patch(seed=3))
    assert not torch.equal(patch, make_patch(seed=4))
    state = torch.random.get_rng_state()
    big = make_patch(seed=0, size=64, channels=3)  # 12,288 draws: the whole 0..255 range, flat
    assert torch.equal(torch.random.get_rng_state(), state)  # its own generator
    assert int(big.min()) == 0 and int(big.max()) == 255
    counts = torch.bincount(big.flatten().long(), minlength=256).double()
    assert abs(float(big.double().mean()) - 127.5) < 2.5
    assert float(counts.std() / counts.mean()) < 0.25  # Poisson-like spread of a uniform draw
    assert make_patch(seed=1, size=5, channels=1).shape == (1, 5, 5)


def test_add_patch_pastes_at_top_left_and_leaves_input_untouched() -> None:
    images = torch.randint(
        0, 256, (4, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    original = images.clone()
    patch = make_patch(seed=7)
    out = add_patch(images, patch)
    assert torch.equal(images, original)
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert torch.equal(out[:, :, :10, :10], patch.expand(4, 3, 10, 10))
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[:10, :10] = False
    assert torch.equal(out[:, :, outside], images[:, :, outside])


def test_add_patch_at_an_offset_and_bad_inputs() -> None:
    images = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    patch = torch.full((3, 4, 4), 9, dtype=torch.uint8)
    out = add_patch(images, patch, top=12, left=5)
    assert int(out.sum()) == 2 * 3 * 16 * 9
    assert torch.equal(out[:, :, 12:16, 5:9], patch.expand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="does not fit"):
        add_patch(images, patch, top=13)
    with pytest.raises(ValueError, match="channels"):
        add_patch(images, torch.zeros(1, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="images must be a uint8"):
        add_patch(images.float(), patch)
    with pytest.raises(ValueError, match="patch must be a uint8"):
        add_patch(images, patch.float())
    with pytest.raises(ValueError, match="size and channels"):
        make_patch(seed=0, size=0)
