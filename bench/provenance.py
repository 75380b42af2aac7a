"""Provenance keys: the hash of everything a stored result depends on.

Every cached or stored result (a model, a map file, a method's per-image scores of a metric, its
ROAR/KAR cells, its gallery) is keyed by a digest of its inputs: the configuration values it reads,
the resolved settings and code versions of the method and metric involved, the content of the
images, and the software versions (:func:`software_versions`). A rerun compares the stored key with
the current one and recomputes exactly the results whose key changed, so nothing can go stale after
an upgrade or a changed default, and nothing unchanged is recomputed.
"""

from __future__ import annotations

import functools
import hashlib
import json
from importlib import metadata
from typing import Any

from methods import METHODS
from metrics import METRICS

__all__ = ["software_versions", "provenance_key", "method_provenance", "metric_provenance"]

_PACKAGES = ("rectbench", "torch", "captum", "quantus")


@functools.cache
def software_versions() -> dict[str, str | None]:
    """Installed versions of the packages whose code changes results (local tags dropped)."""
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name).split("+")[0]
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def provenance_key(*parts: Any) -> str:
    """SHA-256 hex (first 20 characters) of a canonical JSON of ``parts`` and the software
    versions. Values that are not JSON (tuples, dataclasses' dicts) are converted with ``str``."""
    payload = {"parts": parts, "software": software_versions()}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def method_provenance(name: str) -> dict[str, Any]:
    """What a method's results depend on: its name, code version and resolved default settings."""
    spec = METHODS.get(name)
    return {"method": name, "version": spec.version, "settings": dict(spec.defaults),
            "map_percentile": spec.map_percentile}


def metric_provenance(name: str) -> dict[str, Any]:
    """What a metric's values depend on: its name, code version and how it reads maps."""
    spec = METRICS.get(name)
    return {"metric": name, "version": spec.version, "map_processing": spec.map_processing,
            "image_set": spec.image_set}
