"""Serialisation formats that cannot execute code when loaded.

Built-in models are arrays (``.npz`` with ``allow_pickle=False``) plus JSON metadata.
Pickle is refused on the way in, so a shared store cannot be used to plant one. An
upload (REST or ``kibble artifacts put``) is parsed, not sniffed: it is taken only when
the safe loader of its declared format reads it whole (``check_upload``), so a pickle
of any protocol, or an ``.npy`` of objects, is refused whatever it claims to be.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from kibble.errors import UnsafeInputError

NPZ = "application/x-npz"
NPY = "application/x-npy"
JSON = "application/json"
PARQUET = "application/x-parquet"
SUFFIXES = {".npz": NPZ, ".npy": NPY, ".json": JSON, ".parquet": PARQUET}
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


def _read_npz(data: bytes) -> None:
    arrays_from_bytes(data)


def _read_npy(data: bytes) -> None:
    np.load(io.BytesIO(data), allow_pickle=False)


def _read_parquet(data: bytes) -> None:
    pq.read_table(pa.BufferReader(data))


def _read_json(data: bytes) -> None:
    json.loads(data.decode("utf-8"))


def _loader(media_type: str) -> Callable[[bytes], None] | None:
    """The safe loader of a declared type; ``+npz``/``+json`` suffixes count as theirs."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base == NPZ or base.endswith("+npz"):
        return _read_npz
    if base == JSON or base.endswith("+json"):
        return _read_json
    return {NPY: _read_npy, PARQUET: _read_parquet}.get(base)


def check_upload(data: bytes, media_type: str) -> None:
    """Accept ``data`` only if the safe loader of ``media_type`` reads it whole.

    Raises UnsafeInputError (400) for any other declared type, and for bytes the
    loader refuses: pickles of every protocol, object arrays, truncated files.
    """
    refuse_pickle(data, media_type)
    loader = _loader(media_type)
    if loader is None:
        raise UnsafeInputError(
            f"uploads of type {media_type!r} are refused: only formats that load safely are taken",
            hint=f"upload .npz ({NPZ}), .npy ({NPY}), Parquet ({PARQUET}) or JSON ({JSON})",
        )
    try:
        loader(data)
    except Exception as exc:  # any failure to parse is a refusal, never a 500
        raise UnsafeInputError(
            f"the upload is not a valid {media_type} file its safe loader can read "
            f"({type(exc).__name__}: {str(exc)[:120]})",
            hint="re-save it in that format without Python objects (no pickle)",
        ) from None
