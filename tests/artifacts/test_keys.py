from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kibble.artifacts.keys import check_key
from kibble.errors import UnsafeInputError

ATTACKS = [
    "../../etc/passwd",
    "/etc/passwd",
    "models/../../secret",
    "%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252fetc",
    "..\\..\\windows",
    "models/a;rm -rf",
    "models/a#frag",
    "models/a\x00.npz",
    "C:/windows",
    "s3://bucket/x",
    "./hidden",
    ".env",
    "a//b",
    "x" * 600,
    "",
]


@pytest.mark.parametrize("key", ATTACKS)
def test_attack_keys_are_refused(key: str) -> None:
    with pytest.raises(UnsafeInputError):
        check_key(key)


@pytest.mark.parametrize("key", ["models/als/v3.npz", "tables/events/date=2026-01-01/a.parquet"])
def test_ordinary_keys_pass(key: str) -> None:
    assert check_key(key) == key


@given(st.text(max_size=60))
def test_accepted_keys_never_climb_or_root(key: str) -> None:
    try:
        checked = check_key(key)
    except UnsafeInputError:
        return
    assert not checked.startswith("/")
    assert ".." not in checked.split("/")
    assert "\\" not in checked and "\x00" not in checked
