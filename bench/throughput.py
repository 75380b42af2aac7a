"""Throughputs measured on this machine: training image-steps/s and each method's attributions/s.

The run's cost model (:mod:`bench.cost_model`) turns counts of work into seconds with these
numbers. They are measured at start-up with a few timed steps on random data and a fresh model
(the costs do not depend on the weights), and cached per machine in
``$RECTBENCH_CACHE/throughput.json`` (keyed by the host, CPU, torch version and threads, device,
model, image size, batch size, and each method's name and code version), so only the first run on
a machine pays for them (a few seconds on 2 CPU cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from bench.data import to_model_input
from bench.data.cache import default_cache_dir
from bench.models import create_model

__all__ = ["Throughput", "measure", "machine_key"]

_CACHE_FILE = "throughput.json"
_PROBE_IMAGES = 8  # images per timed attribution call on the CPU (a GPU gets 8x more: a small
# batch leaves it idle and would underestimate the maps stage's rate)
_PROBE_STEPS = 3  # timed training steps (after one untimed)


@dataclass(frozen=True)
class Throughput:
    """Measured rates on this machine.

    Attributes:
        train: Training image-steps per second (forward, backward, Adam step) of one model.
        predict: Images per second of a forward pass without gradients.
        attribution: Per method, images attributed per second (the method's paper settings).
        ensemble: Training image-steps per second of a 16-member ensemble, all members together
            (:mod:`bench.ensemble`); None when not asked for.
        measured: Names (``"train"``, ``"predict"``, methods) measured now rather than read from
            the cache.
    """

    train: float
    predict: float
    attribution: dict[str, float]
    ensemble: float | None = None
    measured: tuple[str, ...] = ()


def machine_key(device: torch.device) -> str:
    """Identifies the machine and software a throughput holds for."""
    facts = [platform.node(), platform.processor() or platform.machine(), os.cpu_count(),
             torch.__version__, torch.get_num_threads(), str(device)]
    if device.type == "cuda":
        facts.append(torch.cuda.get_device_name(device))
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:16]


def measure(
    model_name: str,
    image_size: int,
    num_classes: int,
    batch_size: int,
    methods: Sequence[str],
    device: torch.device,
    *,
    ensemble: bool = False,
    cache_dir: Path | None = None,
) -> Throughput:
    """The machine's throughputs for this model and these methods, from the cache or measured
    (``ensemble``: also the ensemble trainer's)."""
    path = (cache_dir or default_cache_dir()) / _CACHE_FILE
    cache = _read(path)
    base = f"{machine_key(device)}|{model_name}|{image_size}|{num_classes}|{batch_size}"
    measured: list[str] = []

    def rate(name: str, probe: Callable[[], float]) -> float:
        key = f"{base}|{name}"
        if key not in cache:
            cache[key] = probe()
            measured.append(name.split("|")[0])
        return float(cache[key])

    def model() -> torch.nn.Module:
        torch.manual_seed(0)
        return create_model(model_name, num_classes, image_size).to(device)

    train = rate("train", lambda: _train_rate(model(), image_size, num_classes, batch_size, device))
    predict = rate("predict", lambda: _predict_rate(model(), image_size, batch_size, device))
    attribution = {
        name: rate(f"{name}|{_method_version(name)}",
                   lambda name=name: _attribution_rate(name, model(), image_size, num_classes,
                                                       device))
        for name in methods
    }
    together = None
    if ensemble:
        together = rate("ensemble", lambda: _ensemble_rate(model_name, image_size, num_classes,
                                                           batch_size, device))
    if measured:
        _write(path, cache)
    return Throughput(train, predict, attribution, together, tuple(measured))


def _images(n: int, size: int, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8).to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_rate(
    model: torch.nn.Module, size: int, classes: int, batch: int, device: torch.device
) -> float:
    images = _images(batch, size, device)
    labels = torch.arange(batch, device=device) % classes
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seconds = 0.0
    for step in range(_PROBE_STEPS + 1):
        _sync(device)
        start = time.perf_counter()
        loss = F.cross_entropy(model(to_model_input(images)), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        _sync(device)
        if step:  # the first step warms up (allocations, kernel choice)
            seconds += time.perf_counter() - start
    return _PROBE_STEPS * batch / max(seconds, 1e-9)


@torch.no_grad()
def _predict_rate(model: torch.nn.Module, size: int, batch: int, device: torch.device) -> float:
    images = to_model_input(_images(batch, size, device))
    model.eval()
    model(images)
    _sync(device)
    start = time.perf_counter()
    model(images)
    _sync(device)
    return batch / max(time.perf_counter() - start, 1e-9)


def _attribution_rate(
    name: str, model: torch.nn.Module, size: int, classes: int, device: torch.device
) -> float:
    from bench.stages.maps import attributor

    model.eval()
    explain = attributor(name, model, 0)
    count = _PROBE_IMAGES * (8 if device.type == "cuda" else 1)
    inputs = to_model_input(_images(count, size, device))
    target = torch.arange(count, device=device) % classes
    explain.attribute(inputs[:2], target=target[:2])  # type: ignore[attr-defined]  # warm-up
    _sync(device)
    start = time.perf_counter()
    explain.attribute(inputs, target=target)  # type: ignore[attr-defined]
    _sync(device)
    return count / max(time.perf_counter() - start, 1e-9)


def _ensemble_rate(
    model_name: str, size: int, classes: int, batch: int, device: torch.device, k: int = 16
) -> float:
    from bench.ensemble import EnsembleMember, train_ensemble
    from bench.training import TrainRecipe

    def run(n: int) -> float:
        images = _images(n, size, device).cpu()
        labels = torch.arange(n) % classes
        members = [EnsembleMember(images, images[:batch], seed) for seed in range(k)]
        _sync(device)
        start = time.perf_counter()
        train_ensemble(model_name, classes, size, members, labels, labels[:batch],
                       TrainRecipe(epochs=1, batch_size=batch), device=device)
        _sync(device)
        return time.perf_counter() - start

    run(batch)  # warm-up
    return k * _PROBE_STEPS * batch / max(run(_PROBE_STEPS * batch), 1e-9)


def _method_version(name: str) -> str:
    from methods import METHODS

    spec = METHODS.get(name)
    return f"{spec.version}:{json.dumps(dict(spec.defaults), sort_keys=True, default=str)}"


def _read(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: float(v) for k, v in data.items() if isinstance(v, (int, float))} if isinstance(
        data, dict) else {}


def _write(path: Path, cache: dict[str, float]) -> None:
    """Best effort (a read-only cache folder only costs a re-measurement next time)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cache, indent=0, sort_keys=True))
        tmp.replace(path)
    except OSError:
        pass
