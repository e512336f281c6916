"""Tables (Delta Lake), connectors, contracts and idempotent ingestion.

Ingest with ``kibble.data.ingest.ingest`` (the module shares the function's name).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kibble.data.contracts import Column, Contract, DriftRule, ForeignKey, VolumeRule
    from kibble.data.ingest import LoadResult
    from kibble.data.lake import Lake
    from kibble.data.tables import Tables

__all__ = [
    "Column",
    "Contract",
    "DriftRule",
    "ForeignKey",
    "Lake",
    "LoadResult",
    "Tables",
    "VolumeRule",
]

_LAZY = {
    **dict.fromkeys(("Column", "Contract", "DriftRule", "ForeignKey", "VolumeRule"), "contracts"),
    "LoadResult": "ingest",
    "Lake": "lake",
    "Tables": "tables",
}


def __getattr__(name: str) -> Any:
    """Import on first use: a leaf like ``kibble.data.urls`` must not pull in Delta Lake,
    and ingestion imports ``kibble.checks``, which imports the contracts from here."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kibble.data' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"kibble.data.{module}"), name)
