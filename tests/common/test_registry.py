"""The shared name -> entry registry behind methods, metrics, models and presets."""

from __future__ import annotations

import pytest

from common.registry import Registry


def test_registration_order_duplicates_and_unknown_names() -> None:
    reg: Registry[int] = Registry("widget")
    for i, name in enumerate(["a", "b", "c"]):
        assert reg.register(name, i) == i
    assert reg.names() == ["a", "b", "c"] and list(reg) == ["a", "b", "c"] and len(reg) == 3
    with pytest.raises(ValueError, match="widget 'b' is already registered"):
        reg.register("b", 9)
    with pytest.raises(KeyError, match="unknown widget 'z'; valid names: a, b, c"):
        reg.get("z")
    with pytest.raises(ValueError, match="non-empty string"):
        reg.register("", 1)


def test_replace_keeps_the_position_and_unregister_then_register_moves_to_the_end() -> None:
    reg: Registry[int] = Registry("widget")
    for i, name in enumerate(["a", "b", "c"]):
        reg.register(name, i)
    assert reg.replace("b", 20) == 1
    assert reg.names() == ["a", "b", "c"] and reg.get("b") == 20
    assert reg.unregister("a") == 0
    reg.register("a", 10)
    assert reg.names() == ["b", "c", "a"]
    with pytest.raises(KeyError, match="unknown widget 'q'"):
        reg.replace("q", 1)
