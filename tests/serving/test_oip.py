"""Open Inference Protocol v2 as a standard client speaks it: tritonclient's HTTP client
against a real `kibble serve`, and malformed requests refused with {"error": ...}."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from kibble.config import load_settings
from kibble.context import Context
from tests.serving.helpers import free_port, register_versions, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = Path(tmp_path_factory.mktemp("oip")) / "home"
    context = Context.open(load_settings({"home": home}, environ={}))
    register_versions(context)
    context.close()
    port = free_port()
    proc = start_server(home, port)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def users_input(users: list[str], binary: bool) -> triton.InferInput:
    tensor = triton.InferInput("user_id", [len(users)], "BYTES")
    tensor.set_data_from_numpy(np.array(users, dtype=np.object_), binary_data=binary)
    return tensor


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_infers_by_deployment_and_model_name(server: str, binary: bool) -> None:
    client = triton.InferenceServerClient(server)
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata()["name"] == "kibble"
    meta = client.get_model_metadata("recs")
    assert meta["inputs"] == [{"name": "user_id", "datatype": "BYTES", "shape": [-1]}]
    assert meta["versions"] == ["1", "2"]
    for name in ("default", "recs"):
        assert client.is_model_ready(name)
        result = client.infer(
            name,
            [users_input(["u1", "u2", "someone-new"], binary)],
            parameters={"k": 4},
            outputs=[triton.InferRequestedOutput("item_id", binary_data=binary)],
        )
        items = result.as_numpy("item_id")
        assert items is not None and items.shape == (3, 4)
        assert result.as_numpy("score") is None  # not asked for


def test_a_pinned_version_answers_itself(server: str) -> None:
    client = triton.InferenceServerClient(server)
    assert client.get_model_metadata("recs", "1")["versions"] == ["1"]
    result = client.infer("recs", [users_input(["u3"], False)], model_version="1")
    assert result.get_response()["model_version"] == "1"
    assert result.as_numpy("score").shape == (1, 10)  # type: ignore[union-attr]
    with pytest.raises(InferenceServerException, match="version '9' is not loaded"):
        client.infer("recs", [users_input(["u3"], False)], model_version="9")


def test_unknown_model_is_a_404_with_the_names_served(server: str) -> None:
    client = triton.InferenceServerClient(server)
    with pytest.raises(InferenceServerException, match="this server serves") as caught:
        client.get_model_metadata("other")
    assert caught.value.status() == "404"


def _user(data: Any, shape: Any = None, datatype: str = "BYTES") -> dict[str, Any]:
    n = len(data) if isinstance(data, list) else 1
    return {"name": "user_id", "datatype": datatype, "shape": shape or [n], "data": data}


BAD_BODIES: dict[str, Any] = {
    "not json": b"{inputs",
    "not an object": b"[1, 2]",
    "no inputs": {},
    "wrong input name": {"inputs": [{**_user(["u1"]), "name": "user"}]},
    "wrong datatype": {"inputs": [_user(["u1"], datatype="INT64")]},
    "shape disagrees": {"inputs": [_user(["u1", "u2"], shape=[3])]},
    "two-d shape": {"inputs": [_user(["u1", "u2"], shape=[1, 2])]},
    "nested rows": {"inputs": [_user([["u1"], ["u2"]], shape=[2])]},
    "numbers for users": {"inputs": [_user([1, 2])]},
    "empty user": {"inputs": [_user([""])]},
    "long user": {"inputs": [_user(["u" * 200])]},
    "k is text": {"inputs": [_user(["u1"])], "parameters": {"k": "abc"}},
    "k is a list": {"inputs": [_user(["u1"])], "parameters": {"k": []}},
    "k is zero": {"inputs": [_user(["u1"])], "parameters": {"k": 0}},
    "parameters not an object": {"inputs": [_user(["u1"])], "parameters": "x"},
    "unknown output": {"inputs": [_user(["u1"])], "outputs": [{"name": "rank"}]},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_malformed_infer_is_a_400_with_an_error(server: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else None
    response = httpx.post(
        f"http://{server}/v2/models/default/infer",
        content=raw,
        json=None if raw is not None else body,
    )
    assert response.status_code == 400, response.text
    assert set(response.json()) == {"error"} and response.json()["error"]


def test_infer_without_a_content_type(server: str) -> None:
    body = b'{"inputs":[{"name":"user_id","datatype":"BYTES","shape":[2],"data":[["u1"],["u2"]]}]}'
    response = httpx.post(f"http://{server}/v2/models/recs/infer", content=body)
    assert response.status_code == 400  # nested rows must match a nested shape
    flat = body.replace(b'[["u1"],["u2"]]', b'["u1","u2"]')
    response = httpx.post(f"http://{server}/v2/models/recs/infer", content=flat)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["shape"] == [2, 10]


def test_v2_infer_is_counted_under_its_own_route(server: str) -> None:
    url = f"http://{server}"
    httpx.post(f"{url}/v2/models/default/infer", json={"inputs": [_user(["u1", "u2"])]})
    httpx.get(f"{url}/v1/recommendations", params={"user_id": "u1"})
    text = httpx.get(f"{url}/metrics").text
    assert 'route="/v2/models/{name}/infer"' in text
    assert 'route="/v1/recommendations"' in text
