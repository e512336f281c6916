from __future__ import annotations

import pytest

from kibble.config import load_settings
from kibble.errors import ConfigError, StoreError
from kibble.store import Store
from kibble.store.engine import create_engine


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(ConfigError, match="not supported"):
        create_engine("mysql://x@localhost/db")


def test_garbage_url_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a valid SQLAlchemy URL"):
        create_engine("not a url at all")


def test_unreachable_postgres_is_a_clear_error(tmp_path) -> None:
    settings = load_settings(
        {"home": tmp_path, "database_url": "postgresql://nobody@127.0.0.1:1/none"}, environ={}
    )
    with pytest.raises(StoreError, match="cannot reach the metadata store"):
        Store.open(settings)
