"""Signing keys: random, kept with the home (or from settings), one per purpose."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kibble.auth.keys import FILE_NAME, derived_key
from kibble.config import load_settings
from kibble.errors import ConfigError


def test_home_key_is_random_private_and_stable(tmp_path: Path) -> None:
    one = load_settings({"home": tmp_path / "a"}, environ={})
    two = load_settings({"home": tmp_path / "b"}, environ={})
    first = derived_key(one, "ui-csrf")
    assert derived_key(one, "ui-csrf") == first  # kept: survives restarts
    assert derived_key(two, "ui-csrf") != first  # not computable from anything public
    assert derived_key(one, "serving-request-id") != first  # one key per purpose
    path = one.home / FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(path.read_bytes()) == 32


def test_settings_secret_is_shared_by_every_replica(tmp_path: Path) -> None:
    secret = "s" * 40
    one = load_settings({"home": tmp_path / "a", "secret_key": secret}, environ={})
    two = load_settings({"home": tmp_path / "b", "secret_key": secret}, environ={})
    assert derived_key(one, "x") == derived_key(two, "x")
    assert not (one.home / FILE_NAME).exists()
    assert "s" * 40 not in str(one.public_dict())


def test_short_secret_and_damaged_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs 32"):
        derived_key(load_settings({"home": tmp_path, "secret_key": "short"}, environ={}), "x")
    settings = load_settings({"home": tmp_path}, environ={})
    settings.home.mkdir(parents=True, exist_ok=True)
    (settings.home / FILE_NAME).write_bytes(b"abc")
    with pytest.raises(ConfigError, match="delete it"):
        derived_key(settings, "x")
