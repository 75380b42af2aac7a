"""Run facts for the report's first section: what ran, on what, with which versions, how long."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .store import RunInfo

__all__ = [
    "config_seeds",
    "env_facts",
    "format_accuracy",
    "format_seconds",
    "model_rows",
    "run_facts",
    "stage_rows",
    "stage_table",
]


def _walk(tree: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.key, leaf)`` pairs of a nested dict, in its order."""
    if isinstance(tree, dict):
        pairs: list[tuple[str, Any]] = []
        for key, value in tree.items():
            pairs.extend(_walk(value, f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    return [(prefix, tree)]


def _render(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_render(v) for v in value)
    return str(value)


def config_seeds(config_toml: str) -> dict[str, str]:
    """Every setting of the run's configuration whose key names a seed, e.g. ``{"seeds": "0, 1"}``.

    The configuration is the runner's resolved TOML; keys are dotted paths (``roar.seeds``).
    Returns an empty dict for an empty or unparsable configuration (the report shows it raw).
    """
    try:
        config = tomllib.loads(config_toml)
    except tomllib.TOMLDecodeError:
        return {}
    return {key: _render(v) for key, v in _walk(config) if "seed" in key.rsplit(".", 1)[-1]}


def env_facts(env_json: str) -> dict[str, str]:
    """The stored environment (versions, device, ...) flattened to ``{dotted.key: text}``.

    Raises:
        ValueError: ``env_json`` is not empty and not a JSON object.
    """
    if not env_json.strip():
        return {}
    try:
        env = json.loads(env_json)
    except json.JSONDecodeError as err:
        raise ValueError(f"env_json: not JSON ({err})") from err
    if not isinstance(env, dict):
        raise ValueError(f"env_json: expected a JSON object, got {type(env).__name__}")
    return {key: _render(v) for key, v in _walk(env)}


def format_accuracy(accuracy: float | None) -> str:
    """``"71.4 %"`` from either a stored fraction (0.714) or a stored percentage (71.4)."""
    if accuracy is None:
        return "not recorded"
    percent = accuracy * 100 if accuracy <= 1 else accuracy
    return f"{percent:.1f} %"


def _format_time(stamp: float | None) -> str:
    if stamp is None:
        return "not recorded"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_seconds(seconds: float | None) -> str:
    """``"12.3 s"``, or minutes from two minutes on; ``""`` for a missing time."""
    if seconds is None or pd.isna(seconds):
        return ""
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def run_facts(run: RunInfo) -> list[tuple[str, str]]:
    """``(label, text)`` rows: run id, preset, data set, model, test accuracy, seeds, device, times.

    The device is the environment's ``device`` entry (or the configuration's, where the runner put
    it there). Versions are in :func:`env_facts`.
    """
    env = env_facts(run.env_json)
    seeds = config_seeds(run.config_toml)
    try:
        config = tomllib.loads(run.config_toml)
    except tomllib.TOMLDecodeError:
        config = {}
    device = env.get("device") or next(
        (_render(v) for k, v in _walk(config) if k.rsplit(".", 1)[-1] == "device"), "not recorded"
    )
    wall = (
        format_seconds(run.finished - run.started)
        if run.started is not None and run.finished is not None
        else "not finished"
    )
    return [
        ("Run id", run.run_id),
        ("Preset", run.preset),
        ("Data set", run.dataset),
        ("Model", run.model),
        ("Model test accuracy", format_accuracy(run.model_accuracy)),
        ("Seeds", "; ".join(f"{k} = {v}" for k, v in seeds.items()) or "not recorded"),
        ("Device", device),
        ("Started", _format_time(run.started)),
        ("Finished", _format_time(run.finished)),
        ("Wall time", wall),
        ("Peak memory (resident)", _format_memory(run.peak_rss_mb)),
        ("Protocol", run.protocol or "not recorded"),
    ]


def _format_memory(megabytes: float | None) -> str:
    if megabytes is None:
        return "not recorded"
    return f"{megabytes / 1024:.2f} GiB ({megabytes:,.0f} MiB)"


def model_rows(models: pd.DataFrame) -> list[tuple[str, str]]:
    """``(role, accuracy)`` of every stored model (clean, patch), in stored order."""
    return [
        (f"{str(row.role).capitalize()} model: test accuracy", format_accuracy(
            None if pd.isna(row.test_accuracy) else float(row.test_accuracy)))
        for row in models.itertuples()
    ]


def stage_rows(stages: pd.DataFrame, estimates: pd.DataFrame) -> list[tuple[str, str, str, str]]:
    """``(stage, estimated, actual, actual / estimated)`` per stored stage, in run order (the
    ``report`` and ``total`` rows last, as the CLI stores them); estimates where stored."""
    estimated = dict(zip(estimates["stage"], estimates["seconds"], strict=True))
    rows = []
    for stage, seconds in stage_table(stages).itertuples(index=False):
        guess = estimated.get(stage)
        ratio = f"{seconds / guess:.2f}x" if guess and not pd.isna(seconds) else ""
        rows.append((str(stage), format_seconds(guess), format_seconds(seconds), ratio))
    return rows


def stage_table(stages: pd.DataFrame) -> pd.DataFrame:
    """The stored per-stage wall times, in stored order: columns ``stage, seconds``."""
    missing = [c for c in ("stage", "seconds") if c not in stages.columns]
    if missing:
        raise ValueError(f"stages: missing column(s) {', '.join(missing)}")
    return stages.loc[:, ["stage", "seconds"]].reset_index(drop=True)
