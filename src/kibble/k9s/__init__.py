"""The K9s shop: a deterministic, closed-loop simulator of a pet shop and its demo.

It produces the data every other part of kibble is exercised with (catalogue, users,
daily event partitions, orders) and a ground-truth response to served lists.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kibble.k9s.config import SCENARIOS, SimConfig
    from kibble.k9s.response import Response, respond
    from kibble.k9s.shop import Shop
    from kibble.k9s.simulate import SimulationResult

_LAZY = {
    "SCENARIOS": "config",
    "SimConfig": "config",
    "Response": "response",
    "respond": "response",
    "Shop": "shop",
    "SimulationResult": "simulate",
}


def __getattr__(name: str) -> Any:
    """Import on first use, so the CLI can read ``kibble.k9s.config`` without the shop."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble.k9s' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"kibble.k9s.{module}"), name)


__all__ = [
    "SCENARIOS",
    "Response",
    "Shop",
    "SimConfig",
    "SimulationResult",
    "respond",
]
