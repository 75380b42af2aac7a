"""A run as a sequence of named stages, each a function with declared inputs and output.

A :class:`Stage` names the artifacts it reads (outputs of earlier stages) and the one it produces;
:func:`run_stages` calls them in order, checks that every input exists, times each stage into the
store and returns the artifacts. Every stage is resumable on its own: what it produces is stored
(result store, model and map caches) and a rerun skips what is there.

How to add a stage: write ``def my_stage(ctx: RunContext, images: ImageSets) -> MyOutput`` in a
module of :mod:`bench.stages`, and insert ``Stage("my_stage", my_stage, ("images",), "mine")`` into
:data:`bench.runner.PIPELINE` after the stages that produce its inputs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bench.config import RunConfig
from bench.data.transform import InputTransform
from bench.map_cache import MapCache
from bench.map_rules import run_metric_names
from bench.models import input_transform
from bench.progress import progress_bar
from bench.store import ResultStore
from bench.training import ModelCache
from methods import METHODS, MethodSpec
from metrics import Executor, MetricSpec, resolve_metric

__all__ = ["RunContext", "Stage", "run_stages"]


@dataclass
class RunContext:
    """What every stage may use: the configuration, where results go, and how to report progress.

    Attributes:
        config: The resolved configuration.
        out: The run folder.
        run_id: The run's id in the store.
        store: The run folder's result store.
        model_cache: Trained models (``out/cache/models``).
        map_cache: Attribution maps (``out/cache/maps``).
        device: Where models train and attribute.
        executor: Runs independent retraining cells.
        echo: Where one-line status messages go; a ``bench.progress.StageLog`` adds the elapsed
            time and an overall ETA to each stage's line.
        progress: Show progress (bars on a terminal, one line per finished step in a log).
    """

    config: RunConfig
    out: Path
    run_id: str
    store: ResultStore
    model_cache: ModelCache
    map_cache: MapCache
    device: torch.device
    executor: Executor
    echo: Callable[[str], None]
    progress: bool
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def methods(self) -> list[MethodSpec]:
        """The run's methods' specs, in the configured order."""
        return [METHODS.get(name) for name in self.config.methods]

    @property
    def input_transform(self) -> InputTransform:
        """``uint8`` images -> the run's model's input, as its ``ModelSpec`` declares (the paper's
        ``x / 127.5 - 1`` by default); used wherever the model sees images."""
        return input_transform(self.config.model)

    @property
    def metrics(self) -> list[MetricSpec]:
        """The run's metrics' specs, in the configured order, with the ``@uniform`` variants that
        ``evaluation.map_rule`` asks for (:func:`bench.map_rules.run_metric_names`)."""
        return [resolve_metric(name) for name in run_metric_names(self.config)]

    def image_set_of(self, spec: MetricSpec) -> str:
        """The images ``spec`` scores in this run (``evaluation.image_sets`` overrides the spec;
        an entry of the metric a derived one comes from applies to it too)."""
        overrides = self.config.evaluation.image_sets
        return overrides.get(spec.name, overrides.get(spec.derived_from or "", spec.image_set))

    def bar(self, iterable: Any = None, *, desc: str = "", total: int | None = None,
            initial: int = 0, leave: bool = True) -> Any:
        """A progress bar over ``iterable`` (or ``total`` steps, counted with ``update``): tqdm on
        an interactive terminal; in a log, one plain line per finished step through ``echo``,
        never a cursor movement or carriage return (``bench.progress.progress_bar``); silent
        without ``progress``."""
        return progress_bar(iterable, enabled=self.progress, echo=self.echo, desc=desc,
                            total=total, initial=initial, leave=leave)

    def job_seed(self, *parts: str) -> int:
        """A 32-bit seed derived from the run's seed and ``parts`` (stable across runs)."""
        text = "/".join((str(self.config.seed), *parts))
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Stage:
    """One step of a run.

    Attributes:
        name: Shown in the log and stored with the stage's wall time.
        run: ``run(ctx, *inputs) -> output``.
        inputs: Names of the artifacts passed to ``run`` after ``ctx``, in order.
        output: Name under which the return value is kept (None: the stage only stores results).
        needed: ``needed(ctx) -> bool``; a stage that is not needed is skipped (its output None).
    """

    name: str
    run: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    output: str | None = None
    needed: Callable[[RunContext], bool] = lambda ctx: True


def run_stages(ctx: RunContext, stages: Sequence[Stage]) -> dict[str, Any]:
    """Run ``stages`` in order; returns every stage's output by name.

    Raises:
        ValueError: A stage reads an artifact that no earlier stage produces.
    """
    produced: set[str] = set()
    for stage in stages:
        missing = [name for name in stage.inputs if name not in produced]
        if missing:
            raise ValueError(f"stage {stage.name!r} reads {missing}, which no earlier stage produces")
        if stage.output:
            produced.add(stage.output)
    artifacts: dict[str, Any] = {}
    for position, stage in enumerate(stages):
        if not stage.needed(ctx):
            if stage.output:
                artifacts[stage.output] = None
            continue
        with _timed(ctx, stage.name, position):
            result = stage.run(ctx, *(artifacts[name] for name in stage.inputs))
        if stage.output:
            artifacts[stage.output] = result
    return artifacts


class _timed:
    def __init__(self, ctx: RunContext, name: str, position: int) -> None:
        self.ctx, self.name, self.position = ctx, name, position

    def __enter__(self) -> None:
        self.ctx.echo(f"[{self.name}]")
        self.start = time.perf_counter()

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            return
        seconds = time.perf_counter() - self.start
        self.ctx.stage_seconds[self.name] = seconds
        self.ctx.store.add_stage_time(self.ctx.run_id, self.name, self.position, seconds)
