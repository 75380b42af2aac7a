"""Typed tables to frozen dataclasses: what turns a configuration's TOML into ``RunConfig``.

Every key must be a field, every value the field's type (``int``, ``float``, ``str``, ``bool``,
tuples, ``dict`` of names, ``Literal`` choices, nested dataclasses); an int is accepted for a float.
Errors are ``ValueError`` naming the dotted key (``config.roar.fractions``) and what was expected.
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

__all__ = ["build_dataclass"]

T = TypeVar("T")


def build_dataclass(cls: type[T], data: Any, where: str) -> T:
    """``cls(**data)`` with every value checked and converted to its field's type."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a table, got {type(data).__name__}")
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown keys in {where}: {sorted(unknown)}; valid keys: {sorted(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, f"{where}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _coerce(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build_dataclass(hint, value, where)
    origin = get_origin(hint)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be an array, got {value!r}")
        (item,) = {a for a in get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(item, v, where) for v in value)
    if origin is dict:
        item = get_args(hint)[1]
        if item is str and (not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        )):
            raise ValueError(f"{where} must be a table of names to names, got {value!r}")
        if not isinstance(value, dict):
            raise ValueError(f"{where} must be a table, got {value!r}")
        if item is Any or item is str:
            return dict(value)
        return {k: _coerce(item, v, f"{where}.{k}") for k, v in value.items()}
    if origin is Literal:
        if value not in get_args(hint):
            raise ValueError(f"{where} must be one of {get_args(hint)}, got {value!r}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and not (
        isinstance(value, hint) and not (hint is int and isinstance(value, bool))
    ):
        raise ValueError(f"{where} must be {hint.__name__}, got {value!r}")
    return value
