"""The benchmark runner: every selected method through every selected metric, stored and resumable.

A run is the sequence of stages in :data:`PIPELINE` (see :mod:`bench.pipeline`):

``estimates`` -> ``data`` -> ``models`` -> ``images`` -> ``maps`` -> ``scores`` -> ``gallery``
-> ``retraining`` -> ``leakage`` -> ``summary``, then what the run asks for: ``robustness`` (map
rules, blurred controls), and the experiments of ``RunConfig.experiments`` (``feature_occlusion``,
``noise_accumulation``, ``threshold_sweep``)

A run is identified by the hash of its resolved configuration, so rerunning the same command in the
same folder resumes it: trained models, attribution maps, per-image scores and ROAR/KAR cells that
are already stored are reused, and only missing work is done. Everything is seeded, so an
interrupted and resumed run ends with the same numbers as an uninterrupted one. The runner writes
the result store only; reports (HTML, CSV) are built from it by the caller (``rectbench run`` does).
"""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bench.config import RunConfig, config_hash, protocol_hash
from bench.environment import environment_facts, resolve_device
from bench.faults import watch_store
from bench.map_cache import MapCache
from bench.pipeline import RunContext, Stage, run_stages
from bench.presets import deviations
from bench.run_folder import open_run_folder
from bench.stages.data import dataset_name, load_data
from bench.stages.estimates import estimate_stages
from bench.stages.experiments import run_feature_occlusion, run_noise_accumulation
from bench.stages.gallery import store_gallery
from bench.stages.images import build_image_sets
from bench.stages.leakage import control_leakage
from bench.stages.maps import compute_maps
from bench.stages.models import train_models
from bench.stages.retraining import retrain
from bench.stages.robustness import check_robustness, needs_robustness
from bench.stages.scores import score_images
from bench.stages.summary import summarise
from bench.stages.sweep import run_sweeps
from bench.store import ResultStore
from bench.training import ModelCache
from bench.validate import validate
from bench.weights import model_label, weights_sha256
from common.schema import STORE_FILENAME
from metrics import Executor, SequentialExecutor

__all__ = ["RunResult", "PIPELINE", "run_benchmark"]


def _has_retraining(ctx: RunContext) -> bool:
    return any(spec.kind == "retraining" for spec in ctx.metrics)


def _experiment(name: str) -> Callable[[RunContext], bool]:
    return lambda ctx: name in ctx.config.experiments


#: The stages of a run, in order (see :mod:`bench.pipeline` for how to add one).
PIPELINE: tuple[Stage, ...] = (
    Stage("estimates", estimate_stages, ()),
    Stage("data", load_data, (), "data"),
    Stage("models", train_models, ("data",), "models"),
    Stage("images", build_image_sets, ("data", "models"), "images"),
    Stage("maps", compute_maps, ("images",), "maps"),
    Stage("scores", score_images, ("images", "maps")),
    Stage("gallery", store_gallery, ("images", "maps")),
    Stage("retraining", retrain, ("images", "maps"), needed=_has_retraining),
    Stage("leakage", control_leakage, ("images", "maps"), needed=_has_retraining),
    Stage("summary", summarise, (), "scores"),
    Stage("robustness", check_robustness, ("scores",), needed=needs_robustness),
    Stage("feature_occlusion", run_feature_occlusion, ("images",),
          needed=_experiment("feature_occlusion")),
    Stage("noise_accumulation", run_noise_accumulation, ("images",),
          needed=_experiment("noise_accumulation")),
    Stage("threshold_sweep", run_sweeps, ("images", "maps"), needed=_experiment("threshold_sweep")),
)


@dataclass
class RunResult:
    """What a finished run leaves: its folder, id, the tidy scores (the store's ``scores`` rows of
    this run), wall time and per-stage seconds of this invocation."""

    run_dir: Path
    run_id: str
    scores: pd.DataFrame
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)


def run_benchmark(
    config: RunConfig,
    out: str | Path,
    *,
    fresh: bool = False,
    progress: bool = True,
    executor: Executor | None = None,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Run ``config`` into the folder ``out`` (created), resuming whatever is already there.

    The whole configuration is checked first (:func:`bench.validate.validate`); then ``out`` is
    opened as a run folder (:mod:`bench.run_folder`: one run per folder, marked and locked).

    Args:
        config: The resolved run configuration (a preset or a TOML file).
        out: Run folder: ``results.sqlite``, ``config.toml``, ``environment.json`` and ``cache/``
            (models, maps) are written there.
        fresh: Replace the run the folder holds (its store, caches and reports are deleted)
            instead of refusing a folder of another run or resuming the same run.
        progress: Show progress bars.
        executor: Runs ROAR/KAR cells; default in-process, one after another.
        echo: Where status lines go.

    Raises:
        bench.validate.ConfigError: A setting that cannot work (a ``ValueError`` naming the setting
            and the fix; an unknown name is also a ``KeyError`` listing the valid names).
        bench.run_folder.RunFolderError: ``out`` is a file, not writable, not a run folder, or
            holds another run (without ``fresh``).
        bench.run_folder.RunFolderBusy: Another process is running in ``out``.
    """
    validate(config)  # [run folder] every setting, name, file and device; nothing written yet
    out = Path(out)
    run_id = config_hash(replace(config, device="*"))
    device = resolve_device(config.device)
    # [run folder] one run per folder, marked and locked for this invocation (bench.run_folder)
    with open_run_folder(out, run_id, preset=config.preset, fresh=fresh, echo=echo):
        ctx = RunContext(
            config=config, out=out, run_id=run_id,
            store=watch_store(ResultStore(out / STORE_FILENAME)),
            model_cache=ModelCache(out / "cache" / "models"),
            map_cache=MapCache(out / "cache" / "maps"), device=device,
            executor=executor or SequentialExecutor(), echo=echo, progress=progress,
        )
        try:
            return _execute(ctx)
        finally:
            ctx.store.close()


def _execute(ctx: RunContext) -> RunResult:
    start = time.perf_counter()
    cfg = ctx.config
    env = environment_facts(ctx.device)
    if cfg.weights:  # [byo] the explained model's weights, identified by content
        env["weights"] = {"path": str(Path(cfg.weights).expanduser().resolve()),
                          "sha256": weights_sha256(cfg.weights)}
    config_toml = cfg.to_toml()
    (ctx.out / "config.toml").write_text(config_toml)
    (ctx.out / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    ctx.store.begin_run(
        ctx.run_id, preset=cfg.preset, dataset=dataset_name(cfg),
        model=model_label(cfg.model, cfg.weights),
        config_toml=config_toml, env=env, started=time.time(), protocol=protocol_hash(cfg),
    )
    ctx.store.put_catalog(ctx.run_id, _method_rows(ctx), _metric_rows(ctx))
    notes = [dict(kind="deviation", position=i, text=t) for i, t in enumerate(deviations(cfg))]
    ctx.store.put_rows("notes", ctx.run_id, notes, replace_where={"kind": "deviation"})
    ctx.echo(f"run {ctx.run_id} ({cfg.preset}) -> {ctx.out}")
    artifacts = run_stages(ctx, PIPELINE)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    ctx.store.update_run(ctx.run_id, finished=time.time(), peak_rss_mb=peak_mb)
    seconds = time.perf_counter() - start
    ctx.store.add_stage_time(ctx.run_id, "total", len(PIPELINE) + 1, seconds)
    ctx.echo(f"done in {seconds:.1f} s: {ctx.out}")
    return RunResult(ctx.out, ctx.run_id, artifacts["scores"], seconds, dict(ctx.stage_seconds))


def _method_rows(ctx: RunContext) -> list[dict[str, Any]]:
    return [
        dict(method=s.name, label=s.label, role=s.role, color=s.color, description=s.description,
             reference=s.reference, settings_json=json.dumps(dict(s.defaults), default=str))
        for s in ctx.methods
    ]


def _metric_rows(ctx: RunContext) -> list[dict[str, Any]]:
    return [
        dict(metric=s.name, label=s.label, higher_is_better=int(s.higher_is_better), kind=s.kind,
             image_set=ctx.image_set_of(s), scale_dependent=int(s.scale_dependent),
             concept=s.concept, headline=int(s.headline), description=s.description)
        for s in ctx.metrics
    ]
