"""Fixtures of the run-folder, validation, cache-integrity and fault-injection tests: a run
configuration small enough that an end-to-end run takes seconds on two shared cores."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from bench.config import DataConfig, EvalConfig, RoarConfig, RunConfig, TrainRecipe

#: Three methods, one cheap metric, 16-pixel synthetic shapes, one training epoch.
SMALL_RUN = RunConfig(
    preset="small",
    description="seconds-long end-to-end run for the safety tests",
    methods=("saliency", "grad_x_input", "rectgrad"),
    metrics=("total_variation",),
    data=DataConfig(source="synthetic", n_train=200, n_test=40, synthetic_classes=4,
                    image_size=16, patch_size=6),
    train=TrainRecipe(epochs=1, batch_size=50),
    evaluation=EvalConfig(n_images=16, masked_per_class=4, n_quantus=0, batch_size=32, gallery=0),
    roar=RoarConfig(fractions=(0.25, 0.75), seeds=(0,), n_train=100, n_test=40, epochs=1),
)


@pytest.fixture(scope="session")
def small_run() -> RunConfig:
    """:data:`SMALL_RUN`."""
    return SMALL_RUN


@pytest.fixture
def small_run_toml(tmp_path: Path) -> Path:
    """:data:`SMALL_RUN` as a TOML file for ``rectbench run --config``."""
    path = tmp_path / "small.toml"
    path.write_text(SMALL_RUN.to_toml())
    return path


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the module's end-to-end runs (restored after). On two cores shared
    with other jobs, two spinning OpenMP threads make a seconds-long run take tens of seconds;
    a subprocess run gets ``OMP_NUM_THREADS=1`` to match (same numbers as in-process)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _flip_bits(path: Path, offsets: list[int], storage: int = 0) -> None:
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(f"/data/{storage}"))
    with open(path, "r+b") as file:
        file.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", file.read(4))
        start = info.header_offset + 30 + name_length + extra_length
        for offset in offsets:
            file.seek(start + offset)
            byte = file.read(1)[0]
            file.seek(start + offset)
            file.write(bytes([byte ^ 0x40]))


@pytest.fixture(scope="session")
def flip_bits() -> Callable[..., None]:
    """``flip_bits(path, offsets, storage=0)``: flip bit 6 of the given bytes of tensor storage
    number ``storage`` inside a ``torch.save`` file, in place on disk (what a failing disk or a
    bad copy does; torch.load does not notice)."""
    return _flip_bits


# --- bring your own method, model and data (issue 13) ------------------------------------------


def _write_image_tree(
    root: Path, *, classes: tuple[str, ...] = ("blue", "green", "red"), per_class: int = 2,
    size: tuple[int, int] = (32, 32), splits: tuple[str, ...] = ("test",), masks: bool = False,
    seed: int = 0,
) -> Path:
    """An ImageFolder tree of seeded noise PNGs, ``<split>/<class>/<class><i>.png`` (size is
    (width, height)), with ``masks/<class>/<class><i>.png`` (a centred square) when ``masks``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    width, height = size
    for split in splits:
        for name in classes:
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}{i}.png")
                if masks and split == "test":
                    mask = np.zeros((height, width), dtype=np.uint8)
                    mask[height // 4: 3 * height // 4, width // 4: 3 * width // 4] = 255
                    (root / "masks" / name).mkdir(parents=True, exist_ok=True)
                    Image.fromarray(mask).save(root / "masks" / name / f"{name}{i}.png")
    return root


@pytest.fixture(scope="session")
def image_tree() -> Callable[..., Path]:
    """``image_tree(root, classes=..., per_class=2, size=(32, 32), splits=("test",),
    masks=False, seed=0) -> root``: write a small ImageFolder tree of seeded noise PNGs."""
    return _write_image_tree


@pytest.fixture
def restore_registries() -> Iterator[None]:
    """Whatever a test registers (methods, metrics, models, configuration tables, plugin
    modules) is removed afterwards, so that later tests see the built-in registries only."""
    import sys
    import tempfile

    from bench.models import MODELS
    from bench.plugins import unregister_config_entries
    from methods import METHODS
    from metrics import METRICS

    before = {id(r): set(r.names()) for r in (METHODS, METRICS, MODELS)}
    modules = set(sys.modules)
    try:
        yield
    finally:
        unregister_config_entries()
        for registry in (METHODS, METRICS, MODELS):
            for name in set(registry.names()) - before[id(registry)]:
                registry.unregister(name)
        temporary = tempfile.gettempdir()
        for name in set(sys.modules) - modules:  # the test's own modules, in temporary folders
            if str(getattr(sys.modules[name], "__file__", None) or "").startswith(temporary):
                del sys.modules[name]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """The module runs on one torch thread (for tiny or float64 ops, where a second thread only
    adds synchronisation and stalls badly when the machine is shared); restored afterwards.
    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
