"""The control plane's probes and metrics: /readyz follows the store, /metrics lints clean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kibble.api import create_app
from kibble.config import load_settings
from kibble.store import migrate
from tests.promtool import promtool_problems

POD = {"Host": "10.1.2.3:8000"}  # the kubelet and Prometheus name the pod by IP


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(load_settings({"home": tmp_path / "home"}, environ={}))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_readyz_answers_when_the_schema_is_at_head(api: TestClient) -> None:
    response = api.get("/readyz", headers=POD)
    assert response.status_code == 200
    assert response.json()["schema"] == sorted(migrate.head_revisions())


def test_readyz_refuses_when_the_store_is_behind(api: TestClient) -> None:
    engine = api.app.state.kibble.store.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'old'")
    response = api.get("/readyz")
    assert response.status_code == 503
    assert "kibble db upgrade" in response.json()["reason"]


def test_metrics_count_route_templates_and_pass_promtool(api: TestClient) -> None:
    api.get("/api/v1/projects/secret-project/runs")  # 401, still counted
    api.get("/no/such/path")
    text = api.get("/metrics", headers=POD).text
    assert promtool_problems(text) == ""
    assert 'route="/api/v1/projects/{project}/runs"' in text and 'code="401"' in text
    assert 'route="unmatched"' in text
    assert "secret-project" not in text


def test_other_paths_still_check_the_host(api: TestClient) -> None:
    assert api.get("/api/v1/whoami", headers=POD).status_code == 400
