"""Attack inputs, each proven harmless: a 4xx, nothing read or written outside the
project, no secret echoed, and the server still answering afterwards."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kibble.api import create_app
from kibble.context import Context
from tests.api.world import World, make_settings

BASE = "/api/v1/projects/k9s"
TRAVERSALS = [
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
    "..%2f..%2f..%2fetc%2fpasswd",
    "..%5c..%5c..%5cwindows%5cwin.ini",
    "..\\..\\etc\\passwd",
    "%2fetc%2fpasswd",
    "sha256:..%2f..%2fother",
    "a;rm -rf",
    "sha256%3Aabc%3B..%2f",
    "x%23frag",
    "%00",
    "sha256:" + "0" * 63 + "%00",
    "a" * 5000,
    "..%c0%af..%c0%afetc",
]


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def assert_alive(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


@pytest.mark.parametrize("payload", TRAVERSALS)
def test_path_traversal_in_every_path_field(world: World, client: TestClient, payload: str) -> None:
    before = files_under(world.settings.home)
    urls = [
        f"{BASE}/artifacts/{payload}",
        f"{BASE}/artifacts/{payload}/content",
        f"{BASE}/datasets/{payload}",
        f"{BASE}/datasets/{payload}/versions",
        f"{BASE}/runs/{payload}",
        f"{BASE}/runs/{payload}/steps",
        f"{BASE}/models/{payload}/versions",
        f"{BASE}/deployments/{payload}",
        f"{BASE}/alerts/{payload}",
        f"/api/v1/projects/{payload}/runs",
    ]
    for url in urls:
        response = client.get(url, headers=world.auth("admin"))
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert "root:" not in response.text and "[fonts]" not in response.text
        assert response.json()["error"]["code"]
    for method, url in [
        ("PUT", f"{BASE}/members/{payload}"),
        ("DELETE", f"{BASE}/tokens/{payload}"),
    ]:
        response = client.request(method, url, headers=world.auth("admin"), json={"role": "admin"})
        assert 400 <= response.status_code < 500, (url, response.status_code)
    assert files_under(world.settings.home) - before <= {
        p for p in files_under(world.settings.home) if p.name.startswith("kibble.db")
    }
    assert_alive(client)


def test_pickle_uploads_are_refused(world: World, client: TestClient) -> None:
    blobs = files_under(world.settings.home / "artifacts")
    payload = pickle.dumps({"model": [1, 2, 3]}, protocol=4)
    for content_type in ("application/x-python-pickle", "application/octet-stream", "text/plain"):
        response = client.post(
            f"{BASE}/artifacts",
            content=payload,
            headers={**world.auth("admin"), "Content-Type": content_type},
        )
        assert response.status_code in (400, 415), content_type
        assert "pickle" in response.json()["error"]["message"]
    for protocol in (0, 1):  # no magic bytes to sniff: the declared format's loader refuses
        for content_type in ("application/json", "application/x-npz", "application/x-npy"):
            response = client.post(
                f"{BASE}/artifacts",
                content=pickle.dumps({"model": [1, 2, 3]}, protocol=protocol),
                headers={**world.auth("admin"), "Content-Type": content_type},
            )
            assert response.status_code == 400, (protocol, content_type)
            assert response.json()["error"]["hint"]
    response = client.post(
        f"{BASE}/tokens",
        content=payload,
        headers={**world.auth("admin"), "Content-Type": "application/python-pickle"},
    )
    assert response.status_code == 415
    assert files_under(world.settings.home / "artifacts") == blobs
    listed = client.get(f"{BASE}/artifacts", headers=world.auth("admin")).json()
    assert [a["name"] for a in listed] == ["m"]
    assert_alive(client)


@pytest.fixture
def small(home: Path) -> Iterator[TestClient]:
    settings = make_settings(
        home, **{"api.max_body_bytes": 2048, "api.cors_origins": "https://ui.example"}
    )
    context = Context.open(settings, project="k9s")
    with TestClient(create_app(settings, store=context.store)) as c:
        yield c
    context.close()


def test_oversize_bodies_get_413_declared_or_streamed(small: TestClient) -> None:
    big = b"x" * 4096
    response = small.post(f"{BASE}/artifacts", content=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 512

    response = small.post(f"{BASE}/artifacts", content=chunks())  # chunked: no length
    assert response.status_code == 413
    response = small.post(f"{BASE}/artifacts", content=b"", headers={"Content-Length": "abc"})
    assert response.status_code in (400, 413)
    assert small.get("/healthz").status_code == 200


def test_deep_json_and_huge_arrays_are_refused(world: World, client: TestClient) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    response = client.put(
        f"{BASE}/quota",
        content=deep,
        headers={**world.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "nests deeper" in response.json()["error"]["message"]
    huge = b"[" + b",".join([b"1"] * 200_001) + b"]"
    response = client.put(
        f"{BASE}/quota",
        content=huge,
        headers={**world.auth("admin"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "values" in response.json()["error"]["message"]
    # brackets inside strings are data, not nesting
    ok = client.post(
        f"{BASE}/tokens",
        json={"user": "viewer", "name": "[{" * 60 + '\\"'},
        headers=world.auth("admin"),
    )
    assert ok.status_code == 201, ok.text
    assert_alive(client)


@pytest.mark.parametrize(
    "path,body",
    [
        ("/members/bob", {"role": "king"}),
        ("/members/bob", {"role": "viewer", "extra": 1}),
        ("/members/bob", ["viewer"]),
        ("/quota", {"max_deployments": "many"}),
        ("/quota", {"max_deployments": -1}),
    ],
)
def test_shape_mismatch_is_400_with_a_hint(
    world: World, client: TestClient, path: str, body: object
) -> None:
    response = client.put(f"{BASE}{path}", json=body, headers=world.auth("admin"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["hint"]


def test_token_request_validation(world: World, client: TestClient) -> None:
    for body in (
        {"user": "../admin"},
        {"user": "viewer", "scopes": ["runs.read", "rm -rf"]},
        {"user": "viewer", "days": 100000},
        {"user": "ghost"},
    ):
        response = client.post(f"{BASE}/tokens", json=body, headers=world.auth("admin"))
        assert response.status_code == 400, body


def test_host_header_allowlist(world: World, client: TestClient) -> None:
    for host in ("evil.example", "127.0.0.1.evil.example", "", "testserver.evil"):
        response = client.get(f"{BASE}/runs", headers={**world.auth("admin"), "Host": host})
        assert response.status_code == 400, host
        assert response.json()["error"]["code"] == "bad_host"
    assert client.get(f"{BASE}/runs", headers=world.auth("admin")).status_code == 200


def test_cors_only_for_listed_origins(small: TestClient, client: TestClient) -> None:
    preflight = {"Access-Control-Request-Method": "GET"}
    good = small.options(f"{BASE}/runs", headers={**preflight, "Origin": "https://ui.example"})
    assert good.headers.get("access-control-allow-origin") == "https://ui.example"
    bad = small.options(f"{BASE}/runs", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in bad.headers
    plain = client.get("/healthz", headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in plain.headers  # none configured: none allowed


def test_security_headers_on_every_kind_of_response(world: World, client: TestClient) -> None:
    for response in (
        client.get("/healthz"),
        client.get(f"{BASE}/runs"),
        client.get(f"{BASE}/runs", headers=world.auth("admin")),
        client.get("/nope"),
        client.get(f"{BASE}/runs", headers={"Host": "evil.example"}),
    ):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_downloads_are_attachments_never_rendered(world: World, client: TestClient) -> None:
    uploaded = client.post(
        f"{BASE}/artifacts",
        content=b'"<script>alert(1)</script>"',
        headers={**world.auth("editor"), "Content-Type": "application/json"},
    ).json()
    response = client.get(
        f"{BASE}/artifacts/{uploaded['digest']}/content", headers=world.auth("viewer")
    )
    assert response.status_code == 200
    assert response.content == b'"<script>alert(1)</script>"'
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-kibble-media-type"] == "application/json"


def test_token_values_never_listed_or_logged_in_audit(world: World, client: TestClient) -> None:
    created = client.post(
        f"{BASE}/tokens", json={"user": "viewer"}, headers=world.auth("admin")
    ).json()
    secret = created["token"]
    assert secret.startswith("kb_")
    for url in (f"{BASE}/tokens?include_revoked=true", f"{BASE}/audit", f"{BASE}/members"):
        text = client.get(url, headers=world.auth("admin")).text
        assert secret not in text and "token_hash" not in text
