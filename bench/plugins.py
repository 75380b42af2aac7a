"""Methods, metrics and models from outside the project: entry points, plugin modules, and
entries defined in a run configuration.

Three ways in, all ending in the registries (``methods.METHODS``, ``metrics.METRICS``,
``bench.models.MODELS``), so that every stage reads them from their specs like the built-in ones:

- **Entry points** of an installed package, groups ``rectbench.methods``, ``rectbench.metrics``
  and ``rectbench.models`` (:func:`load_entry_points`; every ``rectbench`` command loads them). An
  entry point names a spec (``MethodSpec``, ``MetricSpec``, ``ModelSpec``) or a list of specs, a
  module that registers its entries when imported, or (methods and models) a class or factory
  registered under the entry point's name: a method class ``Cls(model, **settings)`` gets its
  keyword arguments' defaults as its settings and its docstring's first line as description.
- **Plugin modules** (``--plugin MODULE``, ``plugins = [...]`` in a configuration): a module name
  importable from the current folder, or a path to a ``.py`` file, imported once
  (:func:`import_plugin`); importing it registers its entries.
- **Configuration tables** ``[method.NAME]`` and ``[metric.NAME]`` naming a
  ``factory = "package.module:callable"`` with its settings (:func:`register_config_entries`).

:func:`activate` does all three for a configuration; :func:`bench.validate.validate` calls it
first. Anything that fails to import raises :class:`PluginError` naming the entry point, module or
setting and the error, so the command line prints one line and exits with 2.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from common.registry import Registry

if TYPE_CHECKING:
    from bench.config import MethodEntry, MetricEntry, RunConfig

__all__ = [
    "ENTRY_POINT_GROUPS",
    "PluginError",
    "activate",
    "import_object",
    "import_plugin",
    "load_entry_points",
    "register_config_entries",
    "unregister_config_entries",
]

#: The entry-point groups a package declares to add methods, metrics and models.
ENTRY_POINT_GROUPS = ("rectbench.methods", "rectbench.metrics", "rectbench.models")

#: Names registered from configuration tables, by registry kind: a later configuration may
#: define them again (differently); built-in and entry-point names cannot be redefined.
_FROM_CONFIG: dict[str, set[str]] = {"method": set(), "metric": set()}


class PluginError(ValueError):
    """A plugin, entry point or ``package.module:attr`` reference that cannot be used; the
    message names it, the error and the fix (one line)."""


def activate(config: RunConfig) -> None:
    """Make everything ``config`` names available: installed entry points, its plugin modules
    (``config.plugins``) and its ``[method.NAME]`` / ``[metric.NAME]`` tables.

    Raises:
        PluginError: an entry point or plugin module that fails to import.
        bench.validate.ConfigError: a configuration table that cannot be registered.
    """
    load_entry_points()
    for plugin in config.plugins:
        import_plugin(plugin)
    register_config_entries(config.method, config.metric)


# --- importing ----------------------------------------------------------------------------------


def _with_current_folder() -> None:
    # ``python -m`` puts the current folder on sys.path, the ``rectbench`` script does not: a
    # user's module next to their configuration must import either way.
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


def import_plugin(text: str) -> ModuleType:
    """Import plugin ``text``: a module name (``my_methods``, ``pkg.sub``) importable from the
    current folder, or a path to a ``.py`` file (imported under its file name's stem, once).

    Raises:
        PluginError: the module is not found or fails to import (its error in the message).
    """
    if not isinstance(text, str) or not text.strip():
        raise PluginError(f"--plugin {text!r}: give a module name or a path to a .py file")
    if text.endswith(".py") or os.sep in text:
        return _import_file(Path(text).expanduser())
    _with_current_folder()
    try:
        return importlib.import_module(text)
    except Exception as exc:  # any error of the user's module: name it
        raise PluginError(f"--plugin {text}: cannot import module {text} ({_error(exc)}); "
                          "give a module importable from the current folder or a .py path") from exc


def _import_file(path: Path) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        raise PluginError(f"--plugin {path}: no such file; give a .py file or a module name")
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and Path(getattr(loaded, "__file__", "") or "").resolve() == path:
        return loaded
    if loaded is not None:
        raise PluginError(f"--plugin {path}: a module named {name} is already imported from "
                          f"{getattr(loaded, '__file__', '?')}; rename the file")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"--plugin {path}: not importable as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before executing, as the import system does (pickling, cycles)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise PluginError(f"--plugin {path}: importing it failed ({_error(exc)}); fix the "
                          "file") from exc
    return module


def import_object(reference: str, what: str) -> Any:
    """The object ``package.module:attr`` (``attr`` may be dotted) names.

    Args:
        reference: ``"package.module:attr"``.
        what: What it should be, for messages (``"model"``, ``"method.mine"``).

    Raises:
        PluginError: a malformed reference, a module that fails to import or a missing attribute.
    """
    module_name, colon, attr = reference.partition(":")
    if not colon or not module_name or not attr:
        raise PluginError(f"{what} {reference!r}: expected package.module:attribute")
    _with_current_folder()
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(f"{what} {reference}: cannot import {module_name} ({_error(exc)})") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{what} {reference}: {module_name} has no attribute {attr}") from None
    return obj


def _error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# --- entry points ---------------------------------------------------------------------------------


def load_entry_points() -> list[str]:
    """Load every ``rectbench.methods`` / ``.metrics`` / ``.models`` entry point of the installed
    packages and register what they name (idempotent: a second call registers nothing new).

    Returns:
        ``group:name`` of every entry point loaded.

    Raises:
        PluginError: an entry point that fails to import or names something unusable, naming
            the entry point, its package and the error.
    """
    loaded = []
    for group in ENTRY_POINT_GROUPS:
        for point in metadata.entry_points(group=group):
            where = f"entry point {point.name} = {point.value} (group {group}{_package(point)})"
            try:
                obj = point.load()
            except Exception as exc:
                raise PluginError(f"{where} failed to import: {_error(exc)}; fix or uninstall "
                                  "that package") from exc
            _register_entry(group, point.name, obj, where)
            loaded.append(f"{group}:{point.name}")
    return loaded


def _package(point: metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    return f", package {dist.name} {dist.version}" if dist is not None else ""


def _register_entry(group: str, name: str, obj: Any, where: str) -> None:
    from bench.models import MODELS, ModelSpec
    from methods import METHODS, MethodSpec
    from metrics import METRICS, MetricSpec

    registry, spec_type = {
        "rectbench.methods": (METHODS, MethodSpec),
        "rectbench.metrics": (METRICS, MetricSpec),
        "rectbench.models": (MODELS, ModelSpec),
    }[group]
    if isinstance(obj, ModuleType):
        return  # importing it registered its entries
    entries = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    if all(isinstance(e, spec_type) for e in entries):
        for entry in entries:
            _register_once(registry, entry.name, entry, where)
        return
    if group == "rectbench.methods" and callable(obj):
        _register_once(registry, name, _method_spec_of(name, obj, where), where)
    elif group == "rectbench.models" and callable(obj):
        doc = (obj.__doc__ or "").strip().splitlines()
        _register_once(registry, name, ModelSpec(name, obj, doc[0] if doc else where), where)
    else:
        raise PluginError(f"{where} names a {type(obj).__name__}; it must name a "
                          f"{spec_type.__name__}, a list of them or a module that registers them")


def _register_once(registry: Registry[Any], name: str, entry: Any, where: str) -> None:
    if name in registry:
        if registry.get(name) == entry:
            return
        raise PluginError(f"{where}: {registry.kind} name {name!r} is already registered (built "
                          "in, or by another package); choose another name")
    registry.register(name, entry)


def _method_spec_of(name: str, factory: Callable[..., Any], where: str) -> Any:
    """A ``MethodSpec`` for a method class or factory ``factory(model, **settings)``."""
    from methods import MethodSpec

    doc = (factory.__doc__ or "").strip().splitlines()
    return MethodSpec(name, factory, _keyword_defaults(factory, where),
                      doc[0] if doc else f"{name} ({where})", where)


def _keyword_defaults(factory: Callable[..., Any], where: str) -> dict[str, Any]:
    """The settings of ``factory(model, **settings)``: its parameters after the model, each with
    its default (a parameter without one cannot be set by the runner: an error)."""
    try:
        parameters = list(inspect.signature(factory).parameters.values())[1:]
    except (TypeError, ValueError) as exc:
        raise PluginError(f"{where}: cannot read the signature of {factory!r} ({exc})") from exc
    settings = {}
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            raise PluginError(f"{where}: argument {p.name!r} has no default; give every argument "
                              "after the model a default, or register a MethodSpec")
        settings[p.name] = p.default
    return settings


# --- configuration tables ---------------------------------------------------------------------------


def register_config_entries(
    methods: dict[str, MethodEntry], metrics: dict[str, MetricEntry]
) -> None:
    """Register the ``[method.NAME]`` and ``[metric.NAME]`` tables of a configuration. A name that
    an earlier configuration defined is replaced; a built-in or entry-point name is an error.

    Raises:
        bench.validate.ConfigError: naming the table (``method.NAME``) and the fix.
    """
    from methods import METHODS
    from metrics import METRICS

    for kind, registry, entries, build in (
        ("method", METHODS, methods, _method_from_entry),
        ("metric", METRICS, metrics, _metric_from_entry),
    ):
        for name, entry in entries.items():
            spec = build(name, entry)
            _replace_config_entry(kind, registry, name, spec)


def _replace_config_entry(kind: str, registry: Registry[Any], name: str, spec: Any) -> None:
    from bench.validate import ConfigError

    if name in registry:
        if name not in _FROM_CONFIG[kind]:
            raise ConfigError(f"{kind}.{name}", f"{name!r} is already a registered {kind}",
                              f"choose another name for the [{kind}.{name}] table")
        registry.unregister(name)
    registry.register(name, spec)
    _FROM_CONFIG[kind].add(name)


def _factory_of(kind: str, name: str, reference: str) -> Callable[..., Any]:
    from bench.validate import ConfigError

    try:
        obj = import_object(reference, f"{kind}.{name}.factory")
    except PluginError as exc:
        raise ConfigError(f"{kind}.{name}.factory", str(exc).split(": ", 1)[-1],
                          "name an importable package.module:callable") from exc
    if not callable(obj):
        raise ConfigError(f"{kind}.{name}.factory", f"{reference} names a {type(obj).__name__}",
                          "name a callable (a class or function)")
    return obj


def _method_from_entry(name: str, entry: MethodEntry) -> Any:
    from bench.validate import ConfigError
    from methods import MethodSpec

    factory = _factory_of("method", name, entry.factory)
    try:
        return MethodSpec(
            name, factory, dict(entry.settings), entry.description or f"{entry.factory} "
            "(defined in the configuration)", entry.reference or entry.factory,
            map_percentile=entry.map_percentile or None, label=entry.label, role=entry.role,  # type: ignore[arg-type]
            meaningful_scale=entry.meaningful_scale, random_ranking=entry.random_ranking,
            version=entry.version, color=entry.color or None,
        )
    except ValueError as exc:
        raise ConfigError(f"method.{name}", str(exc), "fix the table") from exc


def _metric_from_entry(name: str, entry: MetricEntry) -> Any:
    from bench.validate import ConfigError
    from metrics import MetricInputs, MetricSpec

    compute = _factory_of("metric", name, entry.factory)
    fields = set(MetricInputs.__dataclass_fields__)
    unknown = sorted(set(entry.requires) - fields)
    if unknown:
        raise ConfigError(f"metric.{name}.requires", f"names {unknown}, which MetricInputs lacks",
                          f"use fields of MetricInputs: {', '.join(sorted(fields))}")
    if entry.settings:
        compute = functools.partial(compute, **entry.settings)
    try:
        return MetricSpec(
            name, compute, tuple(entry.requires), entry.higher_is_better,
            entry.description or f"{entry.factory} (defined in the configuration)", "per_image",
            label=entry.label, image_set=entry.image_set,  # type: ignore[arg-type]
            scale_dependent=entry.scale_dependent, map_processing=entry.map_processing,  # type: ignore[arg-type]
            expensive=entry.expensive, version=entry.version,
        )
    except ValueError as exc:
        raise ConfigError(f"metric.{name}", str(exc), "fix the table") from exc


def unregister_config_entries() -> list[str]:
    """Remove every method and metric registered from configuration tables (tests, and a process
    that runs several configurations); returns ``kind.name`` of each."""
    from methods import METHODS
    from metrics import METRICS

    removed = []
    for kind, registry in (("method", METHODS), ("metric", METRICS)):
        for name in sorted(_FROM_CONFIG[kind]):
            if name in registry:
                registry.unregister(name)
            removed.append(f"{kind}.{name}")
        _FROM_CONFIG[kind].clear()
    return removed
