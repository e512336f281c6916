"""Tables (Delta Lake), connectors, contracts and idempotent ingestion."""

from typing import Any

from kibble.data.contracts import Column, Contract, DriftRule, ForeignKey, VolumeRule
from kibble.data.lake import Lake

__all__ = [
    "Column",
    "Contract",
    "DriftRule",
    "ForeignKey",
    "Lake",
    "LoadResult",
    "Tables",
    "VolumeRule",
    "ingest",
]


def __getattr__(name: str) -> Any:
    # lazy: ingestion uses kibble.checks, which imports the contracts from here
    if name in ("ingest", "LoadResult"):
        from kibble.data import ingest as module

        return getattr(module, name)
    if name == "Tables":
        from kibble.data.tables import Tables

        return Tables
    raise AttributeError(name)
