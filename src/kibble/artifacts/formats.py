"""Serialisation formats that cannot execute code when loaded.

Built-in models are arrays (``.npz`` with ``allow_pickle=False``) plus JSON metadata.
Pickle is refused on the way in, so a shared store cannot be used to plant one.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import numpy.typing as npt

from kibble.errors import UnsafeInputError

NPZ = "application/x-npz"
JSON = "application/json"
PARQUET = "application/x-parquet"
PICKLE_TYPES = {"application/x-python-pickle", "application/python-pickle", "application/pickle"}


def looks_like_pickle(data: bytes) -> bool:
    """Pickle protocol 2+ starts with PROTO (0x80) and a protocol byte."""
    return len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5


def refuse_pickle(data: bytes, media_type: str = "") -> None:
    if media_type.lower() in PICKLE_TYPES or looks_like_pickle(data):
        raise UnsafeInputError(
            "pickle payloads are refused: loading them can run arbitrary code",
            hint="save arrays as .npz, tables as Parquet and metadata as JSON",
        )


def arrays_to_bytes(arrays: dict[str, npt.NDArray[Any]]) -> bytes:
    for name, array in arrays.items():
        if array.dtype == object:
            raise UnsafeInputError(
                f"array {name!r} has dtype object, which would need pickle",
                hint="convert it to a numeric or fixed-width string dtype",
            )
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def arrays_from_bytes(data: bytes) -> dict[str, npt.NDArray[Any]]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as exc:
        raise UnsafeInputError(
            "this .npz needs pickle to load and was refused", hint="re-save it without objects"
        ) from exc


def json_to_bytes(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def json_from_bytes(data: bytes) -> Any:
    return json.loads(data)
