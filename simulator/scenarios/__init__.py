"""The scenarios: one module per bug, registered by a short name.

``get(name)`` returns the scenario; ``names()`` lists them in course order.
"""
from __future__ import annotations

from simulator.errors import UsageError
from simulator.scenarios.base import Param, Scenario

_REGISTRY: dict[str, Scenario] = {}
_MODULES = ("virtio_barriers", "pir_wakeup", "blockif_cancel")  # in course order


def register(cls: type[Scenario]) -> type[Scenario]:
    """Class decorator: make the scenario reachable by its name."""
    _REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Scenario:
    _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UsageError(f"unknown scenario {name!r} (scenarios: {', '.join(names())})") from None


def names() -> list[str]:
    _load_all()
    return list(_REGISTRY)


def all_scenarios() -> list[Scenario]:
    _load_all()
    return list(_REGISTRY.values())


def _load_all() -> None:
    import importlib

    for module in _MODULES:
        importlib.import_module(f"simulator.scenarios.{module}")


__all__ = ["Param", "Scenario", "get", "names", "all_scenarios", "register"]
