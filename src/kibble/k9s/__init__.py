"""The K9s shop: a deterministic, closed-loop simulator of a pet shop and its demo.

It produces the data every other part of kibble is exercised with (catalogue, users,
daily event partitions, orders) and a ground-truth response to served lists.
"""

from kibble.k9s.config import SCENARIOS, SimConfig
from kibble.k9s.response import Response, respond
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import SimulationResult, simulate

__all__ = [
    "SCENARIOS",
    "Response",
    "Shop",
    "SimConfig",
    "SimulationResult",
    "respond",
    "simulate",
]
