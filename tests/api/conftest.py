from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.world import World, build_world


@pytest.fixture
def world(home: Path) -> Iterator[World]:
    w = build_world(home)
    yield w
    w.other.close()
    w.context.close()


@pytest.fixture
def client(world: World) -> Iterator[TestClient]:
    with TestClient(world.app, base_url="http://testserver") as c:
        yield c
