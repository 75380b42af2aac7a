"""rectbench methods: RectGrad as a Captum attribution, the registry of methods, maps.

See docs/ARCHITECTURE.md ("methods/") for the contracts other layers rely on.
"""

from methods.catalog import (
    METHODS,
    MethodRole,
    MethodSpec,
    available_methods,
    create_method,
    resolve_method,
)
from methods.controls import Blurred, SobelAttribution, blurred_factory
from methods.maps import to_map
from methods.rectgrad import RectGrad

__all__ = [
    "RectGrad",
    "create_method",
    "resolve_method",
    "available_methods",
    "METHODS",
    "MethodRole",
    "MethodSpec",
    "to_map",
    "SobelAttribution",
    "Blurred",
    "blurred_factory",
]
