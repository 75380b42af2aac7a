"""The ``rectbench`` command line.

Subcommands: ``methods``, ``metrics``, ``models``, ``presets [show NAME]``, ``run``, ``report``,
``leaderboard``. ``rectbench COMMAND --help`` documents each.

Methods, metrics and models from outside the project: every command loads the ``rectbench.methods``,
``rectbench.metrics`` and ``rectbench.models`` entry points of the installed packages, and
``--plugin MODULE`` (repeatable) imports a module (a name importable from the current folder, or a
``.py`` path) that registers more (:mod:`bench.plugins`).

Errors: every usage error (a bad argument or setting, a folder that cannot hold the run) prints
one line ``rectbench: error: ...`` naming the argument and the fix and exits with 2; a failure
while running (disk full, a folder in use, a file that cannot be written) prints one line and
exits with 1. ``--debug`` prints the traceback as well.
"""

from __future__ import annotations

import argparse
import errno
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.cli_run import SETTING_FLAGS, UsageError, add_data_and_model_options, resolve_config

__all__ = ["main", "build_parser", "UsageError"]


def _load_plugins(args: argparse.Namespace) -> None:
    """Installed entry points, then every ``--plugin`` module (listing commands)."""
    from bench.plugins import import_plugin, load_entry_points

    load_entry_points()
    for plugin in getattr(args, "plugin", None) or []:
        import_plugin(plugin)


def _cmd_methods(args: argparse.Namespace) -> int:
    from methods import METHODS

    _load_plugins(args)
    width = max(len(n) for n in METHODS.names())
    for name in METHODS.names():
        spec = METHODS.get(name)
        print(f"{name:<{width}}  {spec.description}  [{spec.reference}]")
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    from metrics import METRICS

    _load_plugins(args)
    width = max(len(n) for n in METRICS.names())
    for name in METRICS.names():
        spec = METRICS.get(name)
        direction = "higher is better" if spec.higher_is_better else "lower is better"
        print(f"{name:<{width}}  {direction:<16}  {spec.description}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from bench.models import MODELS, torchvision_architectures

    _load_plugins(args)
    for name in MODELS.names():
        spec = MODELS.get(name)
        print(f"{name:<24}  {spec.description} [input {spec.input.describe()}]")
    archs = torchvision_architectures()
    print(f"{'torchvision.<arch>':<24}  any of torchvision's {len(archs)} classification models, "
          "weights from --weights only [input ImageNet mean/std]:")
    print("  " + ", ".join(archs))
    print(f"{'package.module:factory':<24}  your factory(num_classes, image_size) -> nn.Module, or "
          "a bench.models.ModelSpec [input as declared; default range [-1, 1]]")
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from bench.presets import PRESETS, get_preset

    if args.action == "show":
        if not args.name:
            raise UsageError("presets show: name a preset, e.g. `rectbench presets show smoke`")
        print(get_preset(args.name).to_toml(), end="")
        return 0
    for name in PRESETS.names():
        print(f"{name:<8}  {PRESETS.get(name).summary}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.experiment_settings import with_sweeps
    from bench.progress import StageLog
    from bench.runner import PIPELINE, run_benchmark

    if args.out is not None and not args.out.strip():
        raise UsageError("--out is empty; give a folder, e.g. --out runs/mine (or leave --out out "
                         "for runs/<preset>)")
    config = with_sweeps(resolve_config(args), args.sweep)
    out = Path(args.out).expanduser() if args.out else Path("runs") / config.preset
    executor = _executor(args, config.device)
    # StageLog: each stage line gets the elapsed time and an ETA once the estimates are known
    result = run_benchmark(config, out, fresh=args.fresh, progress=not args.no_progress,
                           executor=executor, echo=StageLog())
    if not args.no_report:
        _report_and_time(out, result.run_id, len(PIPELINE))
    _print_leaderboard(out, result.run_id)
    return 0


def _executor(args: argparse.Namespace, device: str):  # -> Executor | None
    if args.executor == "sequential":
        if args.ray_address:
            raise UsageError("--ray-address needs --executor ray")
        return None
    from bench.executors import make_executor

    try:
        return make_executor("ray", address=args.ray_address, device=device)
    except ImportError as error:
        raise UsageError(f"--executor ray: {error}") from error


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

    run_dir = Path(args.run_dir)
    run_id = args.run or _folder_run(run_dir)
    path = build_report(run_dir, run_id=run_id, figures=args.figures)
    print(f"report of run {run_id}: {path}" if run_id else path)
    return 0


def _folder_run(run_dir: Path) -> str | None:
    """The run id of a run folder's marker; None (with a note) for a folder from before markers."""
    from bench.run_folder import read_marker
    from reports import list_run_ids

    marker = read_marker(run_dir) if run_dir.is_dir() else None
    if marker is not None:
        return marker.run_id
    if run_dir.is_dir() and len(ids := list_run_ids(run_dir)) > 1:
        _warn(f"{run_dir} has no run marker and holds {len(ids)} runs ({', '.join(ids)}); "
              f"reporting the most recently started one, {ids[-1]} (choose with --run ID)")
    return None


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.run_folder import read_marker
    from reports import build_leaderboard, list_run_ids, load_run

    out = Path(args.out).expanduser()
    if not args.out.strip() or (out.exists() and not out.is_dir()):
        raise UsageError(f"--out {args.out!r} is not a folder; give a folder for leaderboard.csv "
                         "and leaderboard.html")
    if out.is_dir() and read_marker(out) is not None:
        raise UsageError(f"--out {out} is a run folder (its leaderboard.csv is the run's own); "
                         "choose another folder")
    run_dirs: list[Path] = []
    for text in args.run_dirs:
        if Path(text).resolve() in {d.resolve() for d in run_dirs}:
            _warn(f"{text} is given more than once; its runs are read once")
            continue
        run_dirs.append(Path(text))
    for run_dir in run_dirs:
        for run_id in list_run_ids(run_dir):
            if load_run(run_dir, run_id).scores.empty:
                _warn(f"run {run_id} in {run_dir} stored no scores (it has not finished; rerun "
                      "`rectbench run` with its configuration to finish it): left out")
    csv_path, html_path = build_leaderboard(run_dirs, out)
    print(csv_path)
    print(html_path)
    return 0


def _warn(message: str) -> None:
    print(f"rectbench: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="print the traceback of an error as well")
    parser = argparse.ArgumentParser(
        prog="rectbench",
        description="Benchmark attribution (saliency) methods on PyTorch image classifiers "
        "(RectGrad and Captum's methods; the RectGrad paper's metrics and Quantus').",
        epilog="Errors print one line (exit code 2: a usage error; 1: a failure); --debug adds "
        "the traceback.",
    )
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error as well")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plugin = argparse.ArgumentParser(add_help=False)
    plugin.add_argument("--plugin", action="append", metavar="MODULE",
                        help="import MODULE first (a module name importable from the current "
                        "folder, or a .py path) to register its methods, metrics or models; "
                        "repeatable")
    p = sub.add_parser("methods", parents=[debug, plugin],
                       help="list the registered attribution methods (installed plugins too)")
    p.set_defaults(func=_cmd_methods)
    p = sub.add_parser("metrics", parents=[debug, plugin],
                       help="list the registered metrics and their directions")
    p.set_defaults(func=_cmd_metrics)
    p = sub.add_parser("models", parents=[debug, plugin],
                       help="list the models: registered, torchvision.<arch>, package.module:factory")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("presets", parents=[debug], help="list presets, or print one as TOML (`presets show NAME`)")
    p.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    p.add_argument("name", nargs="?", help="preset to show")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser(
        "run", parents=[debug, plugin], help="run a benchmark (resumes the run already in --out)",
        description="Run a benchmark into a run folder (--out). A run folder holds exactly one "
        "run, marked by its .rectbench-run file: rerunning the same configuration there resumes "
        "it (stored models, maps, scores and ROAR/KAR cells are reused); another configuration "
        "(other methods, metrics, seed, sizes) is refused with the folder's run id, unless "
        "--fresh replaces that run. rectbench writes only into a new, empty or run folder, and "
        "a second run on a folder in use stops at once. The whole configuration (every value, "
        "name, device, data and mask file) is checked before any work.",
    )
    p.add_argument("--preset", help="smoke, quick, paper or imagenet-style (default: quick)")
    p.add_argument("--config", help="a TOML file as printed by `rectbench presets show NAME`")
    add_data_and_model_options(p)
    p.add_argument("--download", action="store_true",
                   help="download the official CIFAR-10 release with torchvision when missing (needs internet)")
    p.add_argument("--out", help="run folder: new, empty, or holding this run (default: runs/<preset>)")
    p.add_argument("--methods", help="comma-separated method names (default: all registered)")
    p.add_argument("--metrics", help="comma-separated metric names (default: the preset's)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default: the preset's, cpu)")
    p.add_argument("--seed", type=int, help="seed of data order, initialisation and noise (0 .. 2**32-1)")
    p.add_argument("--sweep", action="append", metavar="METHOD.SETTING=V1,V2,...",
                   help="re-score a method along one setting (repeatable), e.g. "
                        "rectgrad.percentile=0,50,98,tau=0; replaces the configured sweeps")
    p.add_argument("--fresh", action="store_true",
                   help="replace the run held in --out (its results, caches and reports are deleted; "
                   "only in a run folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--executor", choices=("sequential", "ray"), default="sequential",
                   help="where ROAR/KAR cells run: in this process (default) or as Ray tasks "
                   "(needs `pip install rectbench[ray]`)")
    p.add_argument("--ray-address", help="a running Ray cluster (default: start a local one)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", parents=[debug], help="rebuild report.html and the CSVs of a run folder")
    p.add_argument("run_dir", help="a run folder holding results.sqlite")
    p.add_argument("--run", help="the run id to report (default: the folder's run, from its "
                   ".rectbench-run marker; the most recently started one in an older folder)")
    p.add_argument("--figures", action="store_true", help="also write the plots as PNG files")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("leaderboard", parents=[debug], help="combine run folders into one leaderboard")
    p.add_argument("run_dirs", nargs="+", help="run folders holding results.sqlite (a folder given "
                   "twice is read once; runs without scores are left out with a warning)")
    p.add_argument("--out", required=True, help="folder for leaderboard.csv and leaderboard.html "
                   "(not a run folder)")
    p.set_defaults(func=_cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("rectbench: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        explained = _explain(exc, args)
        if explained is None:
            raise  # a bug, not a usage error or a failure of the machine: keep the traceback
        code, message = explained
        print(f"rectbench: error: {message}", file=sys.stderr)
        if args.debug:
            traceback.print_exception(exc)
        return code


def _explain(exc: Exception, args: argparse.Namespace) -> tuple[int, str] | None:
    """``(exit code, one line)`` for a usage error (2) or a failure (1); None for anything else."""
    import sqlite3

    from bench.run_folder import RunFolderBusy, RunFolderError
    from bench.validate import ConfigError

    if isinstance(exc, UsageError):
        return 2, str(exc)
    if isinstance(exc, (RunFolderError, RunFolderBusy)) and args.command == "run":
        return (2 if isinstance(exc, RunFolderError) else 1), f"--out {exc.path}: {exc.problem}; {exc.fix}"
    if isinstance(exc, ConfigError):
        return 2, _setting_message(exc, args)
    if isinstance(exc, KeyError):
        return 2, str(exc.args[0] if exc.args else exc)
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return 2, str(exc)
    if isinstance(exc, OSError):
        return 1, _os_message(exc)
    if isinstance(exc, sqlite3.Error):
        return 1, (f"the result store could not be written ({exc}); free disk space or fix the "
                   "folder's permissions, then rerun the same command to resume")
    return None


def _setting_message(exc, args: argparse.Namespace) -> str:  # exc: bench.validate.ConfigError
    """Name the command-line option when the setting came from one, else the configuration."""
    flag = SETTING_FLAGS.get(exc.setting)
    if flag is not None and getattr(args, flag, None) is not None:
        return f"--{flag} {getattr(args, flag)}: {exc.problem}; {exc.fix}"
    where = f"--config {args.config}" if getattr(args, "config", None) else (
        f"preset {getattr(args, 'preset', None) or 'quick'}")
    return f"{exc.setting} (in {where}): {exc.problem}; {exc.fix}"


def _os_message(exc: OSError) -> str:
    fixes = {
        errno.ENOSPC: "free disk space, then rerun the same command to resume",
        errno.EDQUOT: "free disk space, then rerun the same command to resume",
        errno.EACCES: "fix the permissions or choose another folder",
        errno.EPERM: "fix the permissions or choose another folder",
        errno.EROFS: "the file system is read-only: choose another folder",
    }
    fix = fixes.get(exc.errno or 0, "fix the cause, then rerun the same command to resume")
    what = f"cannot write {exc.filename}" if exc.filename else "a file operation failed"
    return f"{what} ({exc.strerror or exc}); {fix}"


if __name__ == "__main__":
    raise SystemExit(main())
