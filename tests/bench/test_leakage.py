"""The mask-only leakage control: a CNN on the removal masks alone (Rong et al. 2022, section 3).

Synthetic shapes (bench.data.make_synthetic) carry their class in their exact object masks, so a
mask-only model must read the class from them; random masks carry nothing (chance = 0.25)."""

from __future__ import annotations

import pytest
import torch

from bench.data import ImageSet, make_synthetic
from bench.leakage import leakage_accuracy, mask_leakage_accuracy, occlusion_masks
from bench.training import TrainRecipe
from metrics.occlusion import occlude, random_occlude

RECIPE = TrainRecipe(epochs=4, batch_size=50)


# Small ops: a second thread only adds synchronisation (and stalls badly on a shared machine).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes() -> tuple[ImageSet, ImageSet]:
    return make_synthetic(600, 200, seed=0, image_size=16)


def test_exact_shape_masks_leak_the_class(shapes: tuple[ImageSet, ImageSet]) -> None:
    train, test = shapes
    accuracy = mask_leakage_accuracy(
        train.masks, train.labels, test.masks, test.labels, num_classes=4, recipe=RECIPE, seed=0
    )
    assert accuracy > 0.9


def test_random_masks_leak_nothing(shapes: tuple[ImageSet, ImageSet]) -> None:
    train, test = shapes
    accuracy = leakage_accuracy(
        None, train.labels, None, test.labels, 0.5,
        num_classes=4, recipe=RECIPE, seed=0, image_size=16,
    )  # fmt: skip
    assert accuracy < 0.4  # chance 0.25; binomial SD over 200 test images ~0.03


@pytest.mark.parametrize("keep", [False, True])
@pytest.mark.parametrize("random", [False, True])
def test_masks_are_the_pixels_the_roar_kar_cell_replaces(keep: bool, random: bool) -> None:
    """metrics.roar_kar occludes a cell with cell_generator(fraction, seed, split); the leakage
    masks must be exactly the pixels it replaces (images of 7s, fill 0: changed = replaced)."""
    from metrics.roar_kar import cell_generator

    images = torch.full((5, 3, 8, 8), 7, dtype=torch.uint8)
    ties = torch.randint(0, 4, (5, 8, 8), generator=torch.Generator().manual_seed(0))
    maps = None if random else ties.float()  # many ties
    generator = cell_generator(0.3, 2, "test")
    if maps is None:
        occluded = random_occlude(images, 0.3, keep, fill=[0, 0, 0], generator=generator)
    else:
        occluded = occlude(images, maps, 0.3, keep, fill=[0, 0, 0], generator=generator)
    replaced = occluded[:, 0] == 0
    masks = occlusion_masks(maps, 0.3, 2, "test", keep=keep, shape=(5, 8, 8))
    assert torch.equal(masks, replaced)
    assert int(masks.sum()) == 5 * (64 - round(0.3 * 64) if keep else round(0.3 * 64))


def test_inputs_are_checked(shapes: tuple[ImageSet, ImageSet]) -> None:
    train, test = shapes
    kwargs = {"num_classes": 4, "recipe": RECIPE, "seed": 0}
    with pytest.raises(ValueError, match="train_removed must be a bool"):
        mask_leakage_accuracy(train.masks.float(), train.labels, test.masks, test.labels, **kwargs)
    with pytest.raises(ValueError, match="test_removed must have"):
        mask_leakage_accuracy(
            train.masks, train.labels, test.masks[:, :8, :8], test.labels, **kwargs
        )
    odd = torch.zeros(4, 10, 10, dtype=torch.bool)
    with pytest.raises(ValueError, match="divisible by 4"):
        mask_leakage_accuracy(odd, train.labels[:4], odd, test.labels[:4], **kwargs)
    with pytest.raises(ValueError, match="both be tensors"):
        leakage_accuracy(None, train.labels, test.masks.float(), test.labels, 0.5, **kwargs)
    with pytest.raises(ValueError, match="image_size"):
        leakage_accuracy(None, train.labels, None, test.labels, 0.5, **kwargs)
    with pytest.raises(ValueError, match="split"):
        occlusion_masks(None, 0.5, 0, "val", shape=(1, 4, 4))
    with pytest.raises(ValueError, match="shape"):
        occlusion_masks(None, 0.5, 0, "train")
