"""A user's ImageFolder tree of any image size, with a PNG mask tree or masks in the authors'
format, cached and identified by content (issue 13)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bench.data.imagefolder as imagefolder_module
from bench.data.imagefolder import folder_digest, load_image_folder


def _save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_classes_are_the_sorted_folders_and_a_second_load_comes_from_the_cache(
    tmp_path: Path, image_tree: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = image_tree(tmp_path / "tree", classes=("zebra", "apple", "mango"), per_class=2,
                      splits=("train", "test"))
    first = load_image_folder(root, cache_dir=tmp_path / "c", progress=False)
    assert first.test.classes == ("apple", "mango", "zebra")
    assert first.test.labels.tolist() == [0, 0, 1, 1, 2, 2] and len(first.train) == 6
    assert first.test.names == ("apple/apple0.png", "apple/apple1.png", "mango/mango0.png",
                                "mango/mango1.png", "zebra/zebra0.png", "zebra/zebra1.png")
    pixels = np.array(Image.open(root / "test" / "mango" / "mango1.png"))
    assert torch.equal(first.test.images[3], torch.from_numpy(pixels).permute(2, 0, 1))
    assert first.masked is None

    def no_decoding(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("decoded although a cache entry exists")

    monkeypatch.setattr(imagefolder_module, "read_split", no_decoding)
    again = load_image_folder(root, cache_dir=tmp_path / "c", progress=False)
    assert torch.equal(again.test.images, first.test.images)
    assert torch.equal(again.train.labels, first.train.labels)


def test_without_train_the_training_set_is_empty_and_a_missing_train_is_named(
    tmp_path: Path, image_tree: Callable[..., Path]
) -> None:
    root = image_tree(tmp_path / "tree")
    data = load_image_folder(root, need_train=False, cache_dir=tmp_path / "c", progress=False)
    assert len(data.train) == 0 and data.train.images.shape[1:] == (3, 32, 32)
    with pytest.raises(FileNotFoundError, match="train is missing; training needs train/<class>/"):
        load_image_folder(root, cache_dir=tmp_path / "c", progress=False)


def test_resize_then_centre_crop_as_torchvision_with_masks_resized_nearest(tmp_path: Path) -> None:
    # A 40 x 20 (w x h) image of one colour whose mask is its left half (x < 20): resize 10 makes
    # it 20 x 10 with the mask on x < 10 (nearest samples source column 2j + 1); the centred
    # 10 x 10 crop starts at column round((20 - 10) / 2) = 5, so columns 0..4 are object.
    root = tmp_path / "tree"
    image = np.zeros((20, 40, 3), dtype=np.uint8)
    image[...] = (200, 100, 50)
    mask = np.zeros((20, 40), dtype=np.uint8)
    mask[:, :20] = 1  # any non-zero value is object
    _save(root / "test" / "a" / "x.jpg", image)
    _save(root / "masks" / "a" / "x.png", mask)
    _save(root / "test" / "b" / "y.png", np.zeros((30, 30, 3), dtype=np.uint8))
    data = load_image_folder(root, resize=10, crop=10, masks=root / "masks", need_train=False,
                             cache_dir=tmp_path / "c", progress=False)
    assert data.test.images.shape == (2, 3, 10, 10)
    assert data.masked is not None and data.masked.names == ("a/x.jpg",)
    expected = torch.zeros(10, 10, dtype=torch.bool)
    expected[:, :5] = True
    assert torch.equal(data.masked.masks[0], expected)
    colour = data.masked.images[0].float().mean(dim=(1, 2))
    assert colour.tolist() == pytest.approx([200, 100, 50], abs=2)  # JPEG, resampled: same colour


def test_images_of_several_sizes_need_a_crop(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    _save(root / "test" / "a" / "x.png", np.zeros((20, 30, 3), dtype=np.uint8))
    _save(root / "test" / "a" / "y.png", np.zeros((24, 30, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="all images of a data set must have the same size: set "
                       "data.crop"):
        load_image_folder(root, need_train=False, cache_dir=tmp_path / "c", progress=False)
    with pytest.raises(ValueError, match=r"is 30x20 px, smaller than data.crop = 24"):
        load_image_folder(root, crop=24, need_train=False, cache_dir=tmp_path / "c",
                          progress=False)
    data = load_image_folder(root, crop=20, need_train=False, cache_dir=tmp_path / "c",
                             progress=False)
    assert data.test.images.shape == (2, 3, 20, 20)


def test_only_test_images_with_a_mask_are_masked(
    tmp_path: Path, image_tree: Callable[..., Path]
) -> None:
    root = image_tree(tmp_path / "tree", masks=True)
    (root / "masks" / "green" / "green1.png").unlink()
    data = load_image_folder(root, masks=root / "masks", need_train=False,
                             cache_dir=tmp_path / "c", progress=False)
    assert data.masked is not None
    assert data.masked.names == ("blue/blue0.png", "blue/blue1.png", "green/green0.png",
                                 "red/red0.png", "red/red1.png")
    assert data.masked.labels.tolist() == [0, 0, 1, 2, 2]
    assert torch.equal(data.masked.images[3], data.test.images[4])
    assert int(data.masked.masks[0].sum()) == 16 * 16  # the centred square of a 32 x 32 image


@pytest.mark.parametrize(("damage", "message"), [
    ("resize", r"mask .*blue0.png is 30x30 px but its image .*blue0.png is 32x32 px; a mask must "
               r"have its image's size"),
    ("orphan", r"mask .*blue9.png has no image test/blue/blue9.\*"),
    ("class", r"mask folder .*purple names no class of the test split"),
])
def test_a_mask_tree_that_does_not_match_the_images_is_refused(
    tmp_path: Path, image_tree: Callable[..., Path], damage: str, message: str
) -> None:
    root = image_tree(tmp_path / "tree", masks=True)
    blank = np.zeros((32, 32), dtype=np.uint8)
    if damage == "resize":
        _save(root / "masks" / "blue" / "blue0.png", np.zeros((30, 30), dtype=np.uint8))
    elif damage == "orphan":
        _save(root / "masks" / "blue" / "blue9.png", blank)
    else:
        _save(root / "masks" / "purple" / "p.png", blank)
    with pytest.raises(ValueError, match=message):
        load_image_folder(root, masks=root / "masks", need_train=False,
                          cache_dir=tmp_path / "c", progress=False)


def test_masks_in_the_authors_format_take_the_trees_classes(
    tmp_path: Path, image_tree: Callable[..., Path]
) -> None:
    root = image_tree(tmp_path / "tree", classes=("n01_cat", "n02_dog"))
    authors = tmp_path / "authors"
    white = np.full((32, 32), 255, dtype=np.uint8)
    _save(authors / "n02_dog_3.jpg", np.zeros((32, 32, 3), dtype=np.uint8))
    _save(authors / "n02_dog_3_mask.jpg", white)
    _save(authors / "n01_cat_10.jpg", np.zeros((32, 32, 3), dtype=np.uint8))
    _save(authors / "n01_cat_10_mask.jpg", white)
    data = load_image_folder(root, masks=authors, need_train=False, cache_dir=tmp_path / "c",
                             progress=False)
    assert data.masked is not None and data.masked.names == ("n01_cat_10", "n02_dog_3")
    assert data.masked.labels.tolist() == [0, 1] and bool(data.masked.masks.all())


def test_the_digest_follows_the_content_of_test_images_and_masks_not_their_times(
    tmp_path: Path, image_tree: Callable[..., Path]
) -> None:
    root = image_tree(tmp_path / "tree", masks=True, splits=("train", "test"))
    cache = tmp_path / "c"
    digest = folder_digest(root, root / "masks", cache_dir=cache)
    assert len(digest) == 64 and folder_digest(root, root / "masks", cache_dir=cache) == digest
    image = root / "test" / "red" / "red0.png"
    image.write_bytes(image.read_bytes())  # same bytes, new modification time
    assert folder_digest(root, root / "masks", cache_dir=cache) == digest
    assert folder_digest(root, cache_dir=cache) != digest  # the masks are part of the data
    _save(image, np.zeros((32, 32, 3), dtype=np.uint8))
    assert folder_digest(root, root / "masks", cache_dir=cache) != digest
