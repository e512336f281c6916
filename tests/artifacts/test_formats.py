"""Uploads are parsed by the safe loader of their declared format, never sniffed."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kibble.artifacts.formats import JSON, NPY, NPZ, PARQUET, arrays_to_bytes, check_upload
from kibble.errors import UnsafeInputError


def npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def npz_of_objects() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, evil=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


def parquet() -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"a": [1, 2]}), sink)
    return bytes(sink.getvalue().to_pybytes())


GOOD = [
    (NPZ, arrays_to_bytes({"w": np.arange(4.0)})),
    ("application/x-kibble-model+npz", arrays_to_bytes({"w": np.arange(4.0)})),
    (NPY, npy(np.arange(4.0))),
    (PARQUET, parquet()),
    (JSON, json.dumps({"a": [1, 2]}).encode()),
    ("application/json; charset=utf-8", b"[1]"),
]
PAYLOAD = {"model": [1, 2, 3]}
DECLARED = [NPZ, NPY, PARQUET, JSON, "application/octet-stream", "text/plain"]


@pytest.mark.parametrize(("media_type", "data"), GOOD, ids=[m for m, _ in GOOD])
def test_files_the_safe_loader_reads_are_taken(media_type: str, data: bytes) -> None:
    check_upload(data, media_type)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("media_type", DECLARED)
def test_every_pickle_protocol_is_refused_whatever_it_claims(
    protocol: int, media_type: str
) -> None:
    with pytest.raises(UnsafeInputError) as refused:
        check_upload(pickle.dumps(PAYLOAD, protocol=protocol), media_type)
    assert refused.value.hint  # says what to upload instead


@pytest.mark.parametrize(
    ("media_type", "data", "why"),
    [
        (NPY, npy(np.array([{"x": 1}], dtype=object), allow_pickle=True), "object .npy"),
        (NPZ, npz_of_objects(), "object .npz"),
        (NPZ, arrays_to_bytes({"w": np.arange(4.0)})[:-10], "truncated .npz"),
        (PARQUET, b"PAR1 not really", "fake parquet"),
        (JSON, b"\xff\xfe{", "not utf-8"),
        ("text/html", b"<p>hi</p>", "a type with no safe loader"),
    ],
)
def test_what_the_loader_cannot_read_is_refused(media_type: str, data: bytes, why: str) -> None:
    with pytest.raises(UnsafeInputError):
        check_upload(data, media_type)
