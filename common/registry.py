"""One registry mechanism shared by methods, metrics, presets, data sets and models.

Modelled on timm's ``create_model``: entries are registered under explicit names, duplicate names
raise, unknown names raise :class:`KeyError` listing the valid ones, and iteration order is the
registration order (so listings and result tables are deterministic).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

__all__ = ["Registry"]


class Registry(Generic[T]):
    """A named, ordered collection of entries of one kind.

    Args:
        kind: What the entries are ("method", "metric", ...); used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` and return it. Raises ``ValueError`` on a duplicate name."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry registered as ``name``; ``KeyError`` listing the valid names otherwise."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self._entries) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid names: {valid}") from None

    def unregister(self, name: str) -> T:
        """Remove and return the entry registered as ``name`` (``KeyError`` listing the valid names
        otherwise). For tests and plugins that register something for a limited time."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def replace(self, name: str, entry: T) -> T:
        """Put ``entry`` in place of the one registered as ``name``, keeping its position in the
        order; return the previous entry (``KeyError`` listing the valid names when unknown)."""
        previous = self.get(name)
        self._entries[name] = entry
        return previous

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()!r})"
