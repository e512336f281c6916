"""Outputs round-trip through safe formats; nothing needs pickle."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from kibble.errors import UnsafeInputError, UsageError
from kibble.pipelines.serde import decode, encode


class Weights:
    """A model-like object using the to_bytes/from_bytes protocol."""

    def __init__(self, values: list[float]) -> None:
        self.values = values

    def to_bytes(self) -> bytes:
        return np.asarray(self.values, dtype=np.float64).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Weights:
        return cls(np.frombuffer(data, dtype=np.float64).tolist())


@pytest.mark.parametrize(
    ("value", "codec"),
    [
        ({"a": [1, 2.5, None], "b": "x"}, "json"),
        (12345678901234567890, "json"),
        (None, "json"),
        (b"\x00raw", "bytes"),
    ],
)
def test_plain_values_round_trip(value: object, codec: str) -> None:
    encoded = encode(value)
    assert encoded.codec == codec
    assert decode(encoded.data, encoded.codec) == value


def test_arrays_tables_and_objects_round_trip() -> None:
    array = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(decode(encode(array).data, "ndarray"), array)
    arrays = {"u": np.ones(2), "v": np.zeros(3)}
    assert set(decode(encode(arrays).data, "arrays")) == {"u", "v"}
    table = pa.table({"item": [1, 2], "score": [0.5, 0.25]})
    assert decode(encode(table).data, "arrow").equals(table)
    frame = pl.DataFrame({"item": [1, 2]})
    encoded = encode(frame)
    assert encoded.codec == "polars" and decode(encoded.data, encoded.codec).equals(frame)
    weights = encode(Weights([1.0, 2.0]))
    assert weights.codec == f"object:{__name__}:Weights"
    assert decode(weights.data, weights.codec).values == [1.0, 2.0]


def test_unsafe_values_and_codecs_are_refused() -> None:
    with pytest.raises(UsageError, match="cannot store safely"):
        encode({1, 2})
    with pytest.raises(UnsafeInputError):
        encode(np.array([object()], dtype=object))
    with pytest.raises(UnsafeInputError, match="not a class with from_bytes"):
        decode(b"", "object:os:system")
    with pytest.raises(UnsafeInputError, match="unknown output codec"):
        decode(b"", "pickle")
