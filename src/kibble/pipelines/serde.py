"""Step outputs to bytes and back, in formats that cannot run code when loaded.

JSON for plain data, ``.npz`` (no pickle) for numpy arrays, Parquet for Arrow and
Polars tables, raw bytes as they are, and any object whose class implements
``to_bytes()`` / ``from_bytes(data)`` (a model, say). Anything else is refused.
"""

from __future__ import annotations

import importlib
import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from kibble.artifacts.formats import NPZ, PARQUET, arrays_from_bytes, arrays_to_bytes
from kibble.errors import UnsafeInputError, UsageError

JSON_TYPE = "application/json"
BYTES_TYPE = "application/octet-stream"
OBJECT_TYPE = "application/x-kibble-object"


@dataclass(frozen=True)
class Encoded:
    data: bytes
    media_type: str
    codec: str


def encode(value: Any) -> Encoded:
    if isinstance(value, bytes | bytearray | memoryview):
        return Encoded(bytes(value), BYTES_TYPE, "bytes")
    if isinstance(value, np.ndarray):
        return Encoded(arrays_to_bytes({"array": value}), NPZ, "ndarray")
    if _is_arrays(value):
        return Encoded(arrays_to_bytes(dict(value)), NPZ, "arrays")
    module = type(value).__module__.split(".")[0]
    if module == "pyarrow" and hasattr(value, "schema"):
        return Encoded(_parquet(value), PARQUET, "arrow")
    if module == "polars" and hasattr(value, "to_arrow"):
        return Encoded(_parquet(value.to_arrow()), PARQUET, "polars")
    if value is None or isinstance(value, bool | int | float | str | list | tuple | dict):
        return _json(value)
    to_bytes = getattr(type(value), "to_bytes", None)
    if callable(to_bytes) and callable(getattr(type(value), "from_bytes", None)):
        cls = type(value)
        return Encoded(value.to_bytes(), OBJECT_TYPE, f"object:{cls.__module__}:{cls.__qualname__}")
    return _json(value)


def _json(value: Any) -> Encoded:
    try:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True).encode()
    except (TypeError, ValueError) as exc:
        raise UsageError(
            f"a step returned {type(value).__name__}, which kibble cannot store safely",
            hint="return JSON data, numpy arrays, an Arrow/Polars table, bytes, "
            "or an object with to_bytes()/from_bytes()",
        ) from exc
    return Encoded(data, JSON_TYPE, "json")


def decode(data: bytes, codec: str) -> Any:
    if codec == "json":
        return json.loads(data)
    if codec == "bytes":
        return data
    if codec == "ndarray":
        return arrays_from_bytes(data)["array"]
    if codec == "arrays":
        return arrays_from_bytes(data)
    if codec in ("arrow", "polars"):
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        if codec == "polars":
            import polars as pl

            return pl.from_arrow(table)
        return table
    if codec.startswith("object:"):
        return _object_class(codec).from_bytes(data)
    raise UnsafeInputError(f"unknown output codec {codec!r}", hint="the run record is damaged")


def _object_class(codec: str) -> Any:
    _, module_name, qualname = codec.split(":", 2)
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not isinstance(target, type) or not callable(getattr(target, "from_bytes", None)):
        raise UnsafeInputError(
            f"{module_name}:{qualname} is not a class with from_bytes",
            hint="only classes implementing to_bytes/from_bytes can be loaded",
        )
    return target


def _is_arrays(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in value.items())
    )


def _parquet(table: Any) -> bytes:
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
