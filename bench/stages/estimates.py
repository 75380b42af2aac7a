"""Stage ``estimates``: before any work, the estimated wall time of every stage, printed and stored.

Throughputs are measured on this machine (a few timed training steps and one timed attribution
call per method; cached per machine, :mod:`bench.throughput`) and turned into seconds per stage by
:mod:`bench.cost_model`. The estimates go to the ``estimates`` table beside the actual times
(``stages``), so a user can choose a protocol before committing hours to it.
"""

from __future__ import annotations

from bench.cost_model import estimate, total
from bench.pipeline import RunContext
from bench.stages.retraining import check_roar_settings, resolve_engine
from bench.throughput import measure

__all__ = ["estimate_stages", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``"42 s"``, ``"3.5 min"`` or ``"2.1 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def estimate_stages(ctx: RunContext) -> dict[str, float]:
    cfg = ctx.config
    check_roar_settings(cfg.roar)  # before any work (bench.validate does not know these yet)
    image_size = cfg.data.image_size if cfg.data.source == "synthetic" else 32
    classes = cfg.data.synthetic_classes if cfg.data.source == "synthetic" else 10
    ensemble = resolve_engine(cfg.roar.engine, ctx.device) == "ensemble"
    rates = measure(cfg.model, image_size, classes, cfg.train.batch_size, cfg.methods, ctx.device,
                    ensemble=ensemble)
    cells = len(ctx.store.table("roar_cells", ctx.run_id))
    leaked = len({(r[1], r[3], r[4]) for r in ctx.store.table("leakage", ctx.run_id)})
    seconds = estimate(cfg, rates, cells_done=cells, leakage_done=leaked, ensemble=ensemble)
    rows = [dict(stage=stage, seconds=value) for stage, value in seconds.items()]
    rows.append(dict(stage="total", seconds=total(seconds)))
    ctx.store.put_rows("estimates", ctx.run_id, rows, replace_where={})
    source = "measured now" if rates.measured else "cached for this machine"
    ctx.echo(f"throughput ({source}): training {rates.train:,.0f} image-steps/s"
             + (f", ensemble {rates.ensemble:,.0f}" if rates.ensemble else ""))
    parts = ", ".join(f"{stage} {format_seconds(v)}" for stage, v in seconds.items() if v >= 1)
    ctx.echo(f"estimated wall time: {format_seconds(total(seconds))} ({parts})")
    set_estimates = getattr(ctx.echo, "set_estimates", None)  # a StageLog prints ETAs from now
    if callable(set_estimates):
        set_estimates(seconds)
    return seconds
