"""The ``rectbench`` command line.

Subcommands: ``methods``, ``metrics``, ``models``, ``presets [show NAME]``, ``run``, ``report``,
``leaderboard``. ``rectbench COMMAND --help`` documents each.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

__all__ = ["main", "build_parser"]


def _cmd_methods(args: argparse.Namespace) -> int:
    from methods import METHODS

    width = max(len(n) for n in METHODS.names())
    for name in METHODS.names():
        spec = METHODS.get(name)
        print(f"{name:<{width}}  {spec.description}  [{spec.reference}]")
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    from metrics import METRICS

    width = max(len(n) for n in METRICS.names())
    for name in METRICS.names():
        spec = METRICS.get(name)
        direction = "higher is better" if spec.higher_is_better else "lower is better"
        print(f"{name:<{width}}  {direction:<16}  {spec.description}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from bench.models import MODELS

    for name in MODELS.names():
        print(f"{name:<24}  {MODELS.get(name).description}")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from bench.presets import PRESETS, get_preset

    if args.action == "show":
        if not args.name:
            raise SystemExit("rectbench presets show: name a preset, e.g. `rectbench presets show smoke`")
        print(get_preset(args.name).to_toml(), end="")
        return 0
    for name in PRESETS.names():
        print(f"{name:<8}  {PRESETS.get(name).summary}")
    return 0


def _resolve_config(args: argparse.Namespace):  # -> RunConfig
    from bench.config import RunConfig
    from bench.presets import get_preset

    if args.config and args.preset:
        raise SystemExit("rectbench run: give --preset or --config, not both")
    config = RunConfig.from_file(args.config) if args.config else get_preset(args.preset or "quick")
    data = config.data
    if args.data:
        path = Path(args.data).expanduser()
        if not path.exists():
            raise SystemExit(f"rectbench run: --data {path} does not exist")
        data = replace(data, source="cifar10", path=str(path.resolve()))
    if args.masks:
        path = Path(args.masks).expanduser()
        if not path.exists():
            raise SystemExit(f"rectbench run: --masks {path} does not exist")
        data = replace(data, masks=str(path.resolve()))
    if args.download:
        data = replace(data, download=True)
    config = replace(config, data=data)
    overrides = {
        "methods": tuple(_split(args.methods)) if args.methods else None,
        "metrics": tuple(_split(args.metrics)) if args.metrics else None,
        "device": args.device,
        "seed": args.seed,
    }
    return config.with_overrides(**overrides)


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.runner import PIPELINE, run_benchmark

    config = _resolve_config(args)
    out = Path(args.out) if args.out else Path("runs") / config.preset
    result = run_benchmark(config, out, fresh=args.fresh, progress=not args.no_progress)
    if not args.no_report:
        _report_and_time(out, result.run_id, len(PIPELINE))
    _print_leaderboard(out, result.run_id)
    return 0


def _report_and_time(out: Path, run_id: str, position: int) -> None:
    """Build the run's report and store its wall time as the ``report`` stage, after the
    pipeline's stages (``position``), and add it to ``total`` (the stage after it), so the
    report's stage table lists every stage in run order, report and total last."""
    import time

    from bench.store import ResultStore
    from common.schema import STORE_FILENAME

    start = time.perf_counter()
    from reports import build_report  # timed too: the import is part of the report's cost

    path = build_report(out, run_id=run_id)
    seconds = time.perf_counter() - start
    with ResultStore(out / STORE_FILENAME) as store:
        store.add_stage_time(run_id, "report", position, seconds)
        store.add_stage_time(run_id, "total", position + 1, seconds)
    print(f"report: {path} ({seconds:.1f} s)")


def _print_leaderboard(out: Path, run_id: str) -> None:
    """Print the run's headline table (one column per concept, at most 100 characters wide)."""
    from reports import console_leaderboard, load_run

    print("\n" + console_leaderboard(load_run(out, run_id)))


def _cmd_report(args: argparse.Namespace) -> int:
    from reports import build_report

    path = build_report(Path(args.run_dir), run_id=args.run, figures=args.figures)
    print(path)
    return 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from reports import build_leaderboard

    csv_path, html_path = build_leaderboard([Path(d) for d in args.run_dirs], Path(args.out))
    print(csv_path)
    print(html_path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rectbench",
        description="Benchmark attribution (saliency) methods on PyTorch image classifiers "
        "(RectGrad and Captum's methods; the RectGrad paper's metrics and Quantus').",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("methods", help="list the registered attribution methods")
    p.set_defaults(func=_cmd_methods)
    p = sub.add_parser("metrics", help="list the registered metrics and their directions")
    p.set_defaults(func=_cmd_metrics)
    p = sub.add_parser("models", help="list the registered models")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("presets", help="list presets, or print one as TOML (`presets show NAME`)")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", help="preset to show")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("run", help="run a benchmark (resumes the run already in --out)")
    p.add_argument("--preset", help="smoke, quick or paper (default: quick)")
    p.add_argument("--config", help="a TOML file as printed by `rectbench presets show NAME`")
    p.add_argument("--data", help="CIFAR-10: the official python release, an ImageFolder tree "
                   "(train/<class>/, test/<class>/) or the cifar10-jpeg tar.gz; switches the run to CIFAR-10")
    p.add_argument("--masks", help="the authors' CIFAR10_mask.tar (file or extracted folder)")
    p.add_argument("--download", action="store_true",
                   help="download the official CIFAR-10 release with torchvision when missing (needs internet)")
    p.add_argument("--out", help="run folder (default: runs/<preset>)")
    p.add_argument("--methods", help="comma-separated method names (default: all registered)")
    p.add_argument("--metrics", help="comma-separated metric names (default: the preset's)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the preset's, cpu)")
    p.add_argument("--seed", type=int, help="seed of data order, initialisation and noise")
    p.add_argument("--fresh", action="store_true", help="discard the stored results and caches in --out first")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="rebuild report.html and the CSVs of a run folder")
    p.add_argument("run_dir", help="a run folder holding results.sqlite")
    p.add_argument("--run", help="the run id to report (default: the folder's most recent run)")
    p.add_argument("--figures", action="store_true", help="also write the plots as PNG files")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("leaderboard", help="combine run folders into one leaderboard")
    p.add_argument("run_dirs", nargs="+", help="run folders holding results.sqlite")
    p.add_argument("--out", required=True, help="folder for leaderboard.csv and leaderboard.html")
    p.set_defaults(func=_cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"rectbench: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rectbench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
