"""Data contracts and the built-in K9s ones."""

from kibble.data.contracts.k9s import EVENTS, K9S_CONTRACTS, PRODUCTS, TRENDS, USERS
from kibble.data.contracts.model import Column, Contract, DriftRule, ForeignKey, VolumeRule

__all__ = [
    "EVENTS",
    "K9S_CONTRACTS",
    "PRODUCTS",
    "TRENDS",
    "USERS",
    "Column",
    "Contract",
    "DriftRule",
    "ForeignKey",
    "VolumeRule",
]
