"""CIFAR-10 loading: both formats made small in the test give the same labels and pixels, the
tensor cache, the error messages, and the real JPEG archive at ../shared/data."""

from __future__ import annotations

import io
import os
import pickle
import shutil
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import bench.data.cifar10 as cifar10_module
import bench.data.imagefolder as imagefolder_module
from bench.data import CIFAR10_CLASSES, load_cifar10

N_PER_BATCH = 4
N_TEST = 6


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.randint(
        0, 256, (n, 3, 32, 32), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _labels(n: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(seed + 100))


@pytest.fixture
def fake_data() -> dict[str, torch.Tensor]:
    """20 train images (5 batches of 4) and 6 test images, random pixels and labels."""
    return {
        "train_images": _images(5 * N_PER_BATCH, 1),
        "train_labels": _labels(5 * N_PER_BATCH, 1),
        "test_images": _images(N_TEST, 2),
        "test_labels": _labels(N_TEST, 2),
    }


def _write_batch(path: Path, images: torch.Tensor, labels: torch.Tensor, name: bytes) -> None:
    # The official layout: a dict with bytes keys (the files were written by Python 2), 'data' as
    # uint8 (N, 3072) = 1024 red, 1024 green, 1024 blue values per row, 'labels' as a list.
    batch = {
        b"batch_label": name,
        b"labels": labels.tolist(),
        b"data": images.reshape(len(images), 3072).numpy(),
        b"filenames": [b"img_%d.png" % i for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_release(root: Path, data: dict[str, torch.Tensor]) -> Path:
    """The official python release (cifar-10-batches-py) under ``root``; returns that folder."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(5):
        sl = slice(i * N_PER_BATCH, (i + 1) * N_PER_BATCH)
        _write_batch(
            folder / f"data_batch_{i + 1}",
            data["train_images"][sl],
            data["train_labels"][sl],
            b"training batch",
        )
    _write_batch(folder / "test_batch", data["test_images"], data["test_labels"], b"testing batch")
    meta = {
        b"label_names": [c.encode() for c in CIFAR10_CLASSES],
        b"num_cases_per_batch": N_PER_BATCH,
        b"num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_tree(root: Path, data: dict[str, torch.Tensor], suffix: str = ".png") -> Path:
    """An ImageFolder tree train/<class>/NNNN.png, test/<class>/NNNN.png (lossless PNG, so pixels
    match the release exactly); file names keep the release order within a class."""
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (root / split / name).mkdir(parents=True)
        for i, (image, label) in enumerate(
            zip(data[f"{split}_images"], data[f"{split}_labels"], strict=True)
        ):
            path = root / split / CIFAR10_CLASSES[int(label)] / f"{i:04d}{suffix}"
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return root


def _class_order(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    order = torch.sort(labels, stable=True).indices
    return images[order], labels[order]


def test_official_release_loads_in_file_order(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    folder = write_release(tmp_path / "data", fake_data)
    for path in (folder, folder.parent):  # the batches folder itself, or its parent
        train, test = load_cifar10(path, cache_dir=tmp_path / f"cache-{path.name}", progress=False)
        assert train.classes == CIFAR10_CLASSES == test.classes
        assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (6, 3, 32, 32)
        assert torch.equal(train.images, fake_data["train_images"])
        assert torch.equal(train.labels, fake_data["train_labels"])
        assert torch.equal(test.images, fake_data["test_images"])
        assert torch.equal(test.labels, fake_data["test_labels"])


def test_imagefolder_tree_gives_same_labels_and_pixels_as_release(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    tree_train, tree_test = load_cifar10(
        write_tree(tmp_path / "tree", fake_data), cache_dir=tmp_path / "c1", progress=False
    )
    rel_train, rel_test = load_cifar10(
        write_release(tmp_path / "rel", fake_data), cache_dir=tmp_path / "c2", progress=False
    )
    assert tree_train.classes == rel_train.classes == CIFAR10_CLASSES
    # The tree is grouped by class (then file name); the release keeps its file order.
    for tree, rel in ((tree_train, rel_train), (tree_test, rel_test)):
        images, labels = _class_order(rel.images, rel.labels)
        assert torch.equal(tree.labels, labels)
        assert torch.equal(tree.images, images)
    assert tree_train.labels.tolist() == sorted(tree_train.labels.tolist())


def test_tar_gz_archive_is_read_without_extracting(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    tree = write_tree(tmp_path / "tree", fake_data)
    archive = tmp_path / "holder" / "cifar10-jpeg.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree / "train", arcname="train")
        tar.add(tree / "test", arcname="test")
    expected_train, expected_test = load_cifar10(tree, cache_dir=tmp_path / "c0", progress=False)
    for path in (archive, archive.parent):  # the archive, or a folder holding it
        train, test = load_cifar10(path, cache_dir=tmp_path / f"c-{path.name}", progress=False)
        assert torch.equal(train.images, expected_train.images)
        assert torch.equal(train.labels, expected_train.labels)
        assert torch.equal(test.images, expected_test.images)
    assert not (tmp_path / "c-holder" / "train").exists()  # streamed, nothing extracted


def test_official_python_archive(tmp_path: Path, fake_data: dict[str, torch.Tensor]) -> None:
    folder = write_release(tmp_path / "rel", fake_data)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    train, test = load_cifar10(archive, cache_dir=tmp_path / "c", progress=False)
    assert torch.equal(train.images, fake_data["train_images"])
    assert torch.equal(test.labels, fake_data["test_labels"])


def test_second_load_comes_from_cache_and_source_changes_invalidate_it(
    tmp_path: Path, fake_data: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = write_tree(tmp_path / "tree", fake_data)
    cache = tmp_path / "cache"
    first_train, first_test = load_cifar10(tree, cache_dir=cache, progress=False)
    assert len(list((cache / "cifar10").glob("*.pt"))) == 1
    assert not list((cache / "cifar10").glob(".*tmp"))  # atomic write left no temporary file

    def no_decoding(*args: object, **kwargs: object) -> np.ndarray:
        raise AssertionError("decoded although a cache entry exists")

    monkeypatch.setattr(cifar10_module, "decode_image", no_decoding)
    monkeypatch.setattr(imagefolder_module, "decode_image", no_decoding)  # the tree's decoder
    train, test = load_cifar10(tree, cache_dir=cache, progress=False)
    assert torch.equal(train.images, first_train.images) and torch.equal(
        test.labels, first_test.labels
    )

    # Adding (or removing, renaming) an image changes its folder: the tree is decoded again.
    Image.new("RGB", (32, 32)).save(tree / "train" / "cat" / "extra.png")
    with pytest.raises(AssertionError, match="decoded although"):
        load_cifar10(tree, cache_dir=cache, progress=False)


def test_release_file_change_invalidates_the_cache(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    folder = write_release(tmp_path / "rel", fake_data)
    cache = tmp_path / "cache"
    load_cifar10(folder, cache_dir=cache, progress=False)
    changed = dict(fake_data, test_labels=(fake_data["test_labels"] + 1) % 10)
    stat = (folder / "test_batch").stat()
    _write_batch(folder / "test_batch", changed["test_images"], changed["test_labels"], b"t")
    os.utime(folder / "test_batch", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    _, test = load_cifar10(folder, cache_dir=cache, progress=False)
    assert torch.equal(test.labels, changed["test_labels"])
    assert len(list((cache / "cifar10").glob("*.pt"))) == 2


def test_damaged_cache_file_is_rebuilt(tmp_path: Path, fake_data: dict[str, torch.Tensor]) -> None:
    tree = write_tree(tmp_path / "tree", fake_data)
    first, _ = load_cifar10(tree, cache_dir=tmp_path / "cache", progress=False)
    entry = next((tmp_path / "cache" / "cifar10").glob("*.pt"))
    entry.write_bytes(b"not a torch file")
    with pytest.warns(UserWarning, match="unreadable cache file"):
        again, _ = load_cifar10(tree, cache_dir=tmp_path / "cache", progress=False)
    assert torch.equal(again.images, first.images)


def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10(missing, cache_dir=tmp_path / "c", progress=False)
    message = str(info.value)
    assert str(missing / "cifar-10-batches-py" / "data_batch_1") in message
    assert str(missing / "train") in message
    assert "download=True" in message and "--download" in message and "--data PATH" in message


def test_default_location_is_rectbench_data(
    tmp_path: Path, fake_data: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_release(tmp_path / "home", fake_data)
    monkeypatch.setenv("RECTBENCH_DATA", str(tmp_path / "home"))
    monkeypatch.setenv("RECTBENCH_CACHE", str(tmp_path / "cache"))
    train, _ = load_cifar10(progress=False)
    assert torch.equal(train.labels, fake_data["train_labels"])
    assert len(list((tmp_path / "cache" / "cifar10").glob("*.pt"))) == 1
    monkeypatch.setenv("RECTBENCH_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="empty"):
        load_cifar10(progress=False)


def test_download_goes_through_torchvision(
    tmp_path: Path, fake_data: dict[str, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torchvision

    calls: list[tuple[str, bool]] = []

    class FakeCIFAR10:  # stands in for the network: writes the release where torchvision would
        def __init__(self, root: str, train: bool = True, download: bool = False) -> None:
            calls.append((root, download))
            write_release(Path(root), fake_data)

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    root = tmp_path / "fresh"
    with pytest.raises(FileNotFoundError):
        load_cifar10(root, cache_dir=tmp_path / "c", progress=False)  # download=False: no call
    assert calls == []
    train, _ = load_cifar10(root, download=True, cache_dir=tmp_path / "c", progress=False)
    assert calls == [(str(root), True)]
    assert torch.equal(train.images, fake_data["train_images"])


def test_download_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision

    class Offline:
        def __init__(self, *args: object, **kwargs: object) -> None:
            raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    with pytest.raises(
        FileNotFoundError, match="(?s)download failed.*network is unreachable.*--data PATH"
    ):
        load_cifar10(tmp_path / "x", download=True, cache_dir=tmp_path / "c", progress=False)


def test_corrupt_batch_file_is_named(tmp_path: Path, fake_data: dict[str, torch.Tensor]) -> None:
    folder = write_release(tmp_path, fake_data)
    (folder / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match=r"data_batch_3 is not a CIFAR-10 python batch file"):
        load_cifar10(folder, cache_dir=tmp_path / "c", progress=False)


def test_foreign_pickle_is_refused_not_executed(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    folder = write_release(tmp_path, fake_data)

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.remove, (str(folder / "batches.meta"),))

    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load global"):
        load_cifar10(folder, cache_dir=tmp_path / "c", progress=False)
    assert (folder / "batches.meta").exists()


def test_incomplete_release_names_missing_files(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    folder = write_release(tmp_path, fake_data)
    (folder / "data_batch_5").unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_5, test_batch"):
        load_cifar10(folder, cache_dir=tmp_path / "c", progress=False)


def test_foreign_file_and_foreign_tree_are_clear_errors(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    foreign = tmp_path / "notes.txt"
    foreign.write_text("hello")
    with pytest.raises(ValueError, match="is not a CIFAR-10 source"):
        load_cifar10(foreign, cache_dir=tmp_path / "c", progress=False)

    tree = write_tree(tmp_path / "tree", fake_data)
    (tree / "train" / "cat").rename(tree / "train" / "kitten")
    with pytest.raises(ValueError, match=r"missing \['cat'\], unexpected \['kitten'\]"):
        load_cifar10(tree, cache_dir=tmp_path / "c", progress=False)


def test_corrupt_image_in_tree_is_named(tmp_path: Path, fake_data: dict[str, torch.Tensor]) -> None:
    tree = write_tree(tmp_path / "tree", fake_data)
    bad = tree / "test" / "dog" / "9999.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    with pytest.raises(ValueError, match=r"cannot decode image .*9999\.jpg"):
        load_cifar10(tree, cache_dir=tmp_path / "c", progress=False)


def test_corrupt_archive_is_a_clear_error(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    tree = write_tree(tmp_path / "tree", fake_data)
    archive = tmp_path / "cifar10-jpeg.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree / "train", arcname="train")
        tar.add(tree / "test", arcname="test")
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])  # truncated download
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_cifar10(archive, cache_dir=tmp_path / "c", progress=False)


def test_jpeg_files_decode_close_to_their_source(
    tmp_path: Path, fake_data: dict[str, torch.Tensor]
) -> None:
    # Smooth images survive JPEG at quality 95 within a few gray levels: the tree reader handles
    # .jpg (the shared data's format) as well as PNG.
    smooth = torch.linspace(0, 255, 32).round().to(torch.uint8).expand(3, 32, 32)
    data = dict(fake_data)
    data["train_images"] = smooth.expand(20, 3, 32, 32).clone()
    tree = tmp_path / "tree"
    for split in ("train", "test"):
        for name in CIFAR10_CLASSES:
            (tree / split / name).mkdir(parents=True)
        for i, (image, label) in enumerate(
            zip(data[f"{split}_images"], data[f"{split}_labels"], strict=True)
        ):
            buffer = io.BytesIO()
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(buffer, "JPEG", quality=95)
            (tree / split / CIFAR10_CLASSES[int(label)] / f"{i:04d}.jpg").write_bytes(
                buffer.getvalue()
            )
    train, _ = load_cifar10(tree, cache_dir=tmp_path / "c", progress=False)
    assert (train.images.int() - smooth.int()).abs().max() <= 4


@pytest.mark.data
def test_real_jpeg_archive(shared_data: Path, tmp_path: Path) -> None:
    """The JPEG CIFAR-10 at ../shared/data: 50,000 / 10,000 images, 5,000 / 1,000 per class,
    per-channel means 125.4 / 123.1 / 114.0 (data/README.md); the second load is cached."""
    start = time.perf_counter()
    train, test = load_cifar10(
        shared_data / "cifar10-jpeg.tar.gz", cache_dir=tmp_path, progress=False
    )
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    train2, test2 = load_cifar10(
        shared_data / "cifar10-jpeg.tar.gz", cache_dir=tmp_path, progress=False
    )
    cached_s = time.perf_counter() - start
    print(f"\nCIFAR-10 JPEG archive: decode {decode_s:.1f} s, cached load {cached_s:.2f} s")

    assert train.images.shape == (50_000, 3, 32, 32) and test.images.shape == (10_000, 3, 32, 32)
    assert torch.bincount(train.labels).tolist() == [5_000] * 10
    assert torch.bincount(test.labels).tolist() == [1_000] * 10
    means = train.images.double().mean(dim=(0, 2, 3))
    assert torch.allclose(means, torch.tensor([125.4, 123.1, 114.0], dtype=torch.float64), atol=0.6)
    assert torch.equal(train2.images, train.images) and torch.equal(test2.labels, test.labels)
    assert cached_s < 2.0  # typically ~0.2 s; loose for a shared 2-core machine
    shutil.rmtree(tmp_path / "cifar10")  # 184 MB: do not leave it in pytest's kept temp folders
