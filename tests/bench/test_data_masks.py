"""The authors' masked CIFAR-10 images: BGR files flipped to RGB, masks binarised at 200, order by
class then numeric n, their selection rule, and the real CIFAR10_mask.tar."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import CIFAR10_CLASSES, MASK_THRESHOLD, ImageSet, load_object_masks, select_masked

# Mask gray levels in 8x8 blocks (constant JPEG blocks decode exactly at quality 100): the rows of
# blocks hold 199 (background, just below the threshold), 200 (object: the threshold is
# inclusive), 255 and 0.
MASK_LEVELS = (199, 200, 255, 0)


def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    mode = "L" if array.ndim == 2 else "RGB"
    Image.fromarray(array, mode).save(buffer, "JPEG", quality=100, subsampling=0)
    return buffer.getvalue()


def _stored_bgr_image(red_top: bool) -> np.ndarray:
    """A 32x32 image as the authors' files store it (BGR): RGB red on top, RGB blue below (or the
    reverse), written with the channels swapped."""
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:16, :, 0 if red_top else 2] = 255
    rgb[16:, :, 2 if red_top else 0] = 255
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _mask_array() -> np.ndarray:
    mask = np.zeros((32, 32), np.uint8)
    for row, level in enumerate(MASK_LEVELS):
        mask[8 * row : 8 * row + 8] = level
    return mask


@pytest.fixture
def mask_tar(tmp_path: Path) -> Path:
    """A tiny CIFAR10_mask.tar: cat_1, airplane_10, airplane_2 (stored in that order)."""
    files = {
        "cat_1": _stored_bgr_image(red_top=False),
        "airplane_10": _stored_bgr_image(red_top=True),
        "airplane_2": _stored_bgr_image(red_top=True),
    }
    path = tmp_path / "CIFAR10_mask.tar"
    with tarfile.open(path, "w") as tar:
        for stem, image in files.items():
            for name, data in (
                (f"{stem}.jpg", _jpeg(image)),
                (f"{stem}_mask.jpg", _jpeg(_mask_array())),
            ):
                info = tarfile.TarInfo(f"CIFAR10_mask/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def test_fixture_mask_levels_survive_jpeg() -> None:
    # Guards the threshold test below: the 199/200 blocks must reach the loader unchanged.
    decoded = np.asarray(Image.open(io.BytesIO(_jpeg(_mask_array()))))
    assert np.array_equal(decoded, _mask_array())


def test_tar_order_labels_names_and_rgb_flip(mask_tar: Path) -> None:
    masks = load_object_masks(mask_tar)
    assert masks.names == ("airplane_2", "airplane_10", "cat_1")  # class order, then numeric n
    assert masks.labels.tolist() == [0, 0, 3]
    assert masks.classes == CIFAR10_CLASSES
    assert masks.images.shape == (3, 3, 32, 32) and masks.images.dtype == torch.uint8
    # After the BGR -> RGB flip the airplanes are red on top, blue below; the cat the reverse.
    top, bottom = (
        masks.images[:, :, 4:12].float().mean(dim=(2, 3)),
        masks.images[:, :, 20:28].float().mean(dim=(2, 3)),
    )
    expected_top = torch.tensor([[255.0, 0, 0], [255, 0, 0], [0, 0, 255]])
    assert (top - expected_top).abs().max() <= 3
    assert (bottom - expected_top.flip(1)).abs().max() <= 3
    unflipped = load_object_masks(mask_tar, bgr=False)
    assert torch.equal(unflipped.images, masks.images.flip(1))


def test_mask_threshold_is_200_inclusive(mask_tar: Path) -> None:
    masks = load_object_masks(mask_tar).masks
    assert masks is not None and masks.shape == (3, 32, 32) and masks.dtype == torch.bool
    rows = masks[:, ::8, 0]  # one row per 8x8 band: levels 199, 200, 255, 0
    assert rows.tolist() == [[False, True, True, False]] * 3
    assert int(masks.sum()) == 3 * 2 * 8 * 32
    assert MASK_THRESHOLD == 200
    stricter = load_object_masks(mask_tar, threshold=201).masks
    assert (
        stricter is not None and stricter[:, ::8, 0].tolist() == [[False, False, True, False]] * 3
    )


def test_extracted_folder_and_its_parent_give_the_same_set(mask_tar: Path, tmp_path: Path) -> None:
    with tarfile.open(mask_tar) as tar:
        tar.extractall(tmp_path / "extracted", filter="data")
    from_tar = load_object_masks(mask_tar)
    for path in (tmp_path / "extracted" / "CIFAR10_mask", tmp_path / "extracted"):
        loaded = load_object_masks(path)
        assert loaded.names == from_tar.names
        assert torch.equal(loaded.images, from_tar.images) and torch.equal(
            loaded.masks, from_tar.masks
        )


def test_unpaired_unknown_and_missing_files_are_clear_errors(
    mask_tar: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "CIFAR10_mask"
    with tarfile.open(mask_tar) as tar:
        tar.extractall(tmp_path, filter="data")
    (folder / "cat_1_mask.jpg").unlink()
    with pytest.raises(ValueError, match=r"missing: cat_1_mask\.jpg"):
        load_object_masks(folder)
    (folder / "cat_1.jpg").rename(folder / "kitten_1.jpg")
    with pytest.raises(ValueError, match="unknown class 'kitten'"):
        load_object_masks(folder)
    with pytest.raises(FileNotFoundError, match="--masks PATH"):
        load_object_masks(tmp_path / "absent.tar")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no <class>_<n>.jpg"):
        load_object_masks(empty)
    foreign = tmp_path / "foreign.tar"
    foreign.write_bytes(b"this is not a tar file at all" * 40)
    with pytest.raises(ValueError, match="corrupt or not CIFAR10_mask.tar"):
        load_object_masks(foreign)


def _set_with_labels(labels: list[int]) -> ImageSet:
    n = len(labels)
    return ImageSet(
        torch.zeros(n, 3, 4, 4, dtype=torch.uint8), torch.tensor(labels), ("a", "b", "c")
    )


def test_select_masked_keeps_first_correct_per_class_in_order() -> None:
    #          index: 0  1  2  3  4  5  6  7  8  9
    labels = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
    predicted = [1, 0, 0, 0, 1, 2, 1, 2, 0, 2]
    # Class 0: correct at 1, 2, 3 -> first two 1, 2. Class 1: correct at 4, 6. Class 2: 7, 9.
    chosen = select_masked(_set_with_labels(labels), torch.tensor(predicted), per_class=2)
    assert chosen.tolist() == [1, 2, 4, 6, 7, 9]
    assert chosen.dtype == torch.int64


def test_select_masked_warns_when_a_class_has_too_few() -> None:
    labels = [0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 0, 0]  # class 1 has one correct image, class 2 none
    with pytest.warns(UserWarning, match="b, c"):
        chosen = select_masked(_set_with_labels(labels), torch.tensor(predicted), per_class=2)
    assert chosen.tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="predicted_labels must have shape"):
        select_masked(_set_with_labels(labels), torch.tensor([0, 1]))


@pytest.mark.data
def test_real_mask_tar(shared_data: Path) -> None:
    """The authors' 204 pairs, per-class counts from data/README.md; RGB after the flip (red mean
    above blue mean, as in CIFAR-10: 125.4 vs 114.0); masks neither empty nor full."""
    masks = load_object_masks(shared_data / "CIFAR10_mask.tar")
    assert len(masks) == 204 and masks.images.shape == (204, 3, 32, 32)
    counts = dict(
        zip(CIFAR10_CLASSES, torch.bincount(masks.labels, minlength=10).tolist(), strict=True)
    )
    assert counts == {
        "airplane": 19, "automobile": 16, "bird": 28, "cat": 15, "deer": 19,
        "dog": 22, "frog": 24, "horse": 27, "ship": 17, "truck": 17,
    }  # fmt: skip
    assert masks.names is not None and masks.names[:3] == ("airplane_1", "airplane_2", "airplane_3")
    means = masks.images.double().mean(dim=(0, 2, 3))
    assert means[0] - means[2] > 10  # measured 124.7 vs 109.4; unflipped it would be reversed
    assert masks.masks is not None
    fraction = masks.masks.double().mean(dim=(1, 2))
    assert 0.05 < float(fraction.min()) and float(fraction.max()) < 0.95
    assert 0.3 < float(fraction.mean()) < 0.5  # measured 0.41
