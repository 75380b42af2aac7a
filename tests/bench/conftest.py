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
