"""Open Inference Protocol (KServe v2) routes, as standard clients (tritonclient, KServe's)
speak it.

The model answers to the deployment's name and to the registered model's name. Its one
input is ``user_id`` (BYTES, shape [n]); outputs are ``item_id`` (BYTES) and ``score``
(FP32), shape [n, k]. Request parameter ``k`` (1..MAX_K) sets the list length. Bodies are
JSON whatever the content type, or JSON plus binary tensors (the binary data extension,
``Inference-Header-Content-Length``). Every refusal is ``{"error": "..."}`` with 400 or
404, per the protocol. Without a version, infer is routed like /v1/recommendations (the
rollout's arms, logged); with one, that loaded version answers directly.
"""

from __future__ import annotations

import math
import struct
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from kibble import __version__
from kibble.serving.metrics import Metrics
from kibble.serving.state import ModelHolder, Snapshot

MAX_BATCH = 1000
MAX_USER_ID = 128
INPUTS: list[dict[str, Any]] = [{"name": "user_id", "datatype": "BYTES", "shape": [-1]}]
OUTPUTS: list[dict[str, Any]] = [
    {"name": "item_id", "datatype": "BYTES", "shape": [-1, -1]},
    {"name": "score", "datatype": "FP32", "shape": [-1, -1]},
]
INFER_ROUTE = "/v2/models/{name}/infer"
VERSION_INFER_ROUTE = "/v2/models/{name}/versions/{version}/infer"
# (user_id, k, route) -> [(item_id, score), ...] through the deployment's router
Recommend = Callable[[str, int, str], list[tuple[str, float]]]


class OipError(Exception):
    """A request the protocol refuses; ``status`` is 400 or 404."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _json(content: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _error(exc: OipError) -> Response:
    return _json({"error": exc.message}, exc.status)


def parse_body(raw: bytes, header_length: str | None) -> tuple[dict[str, Any], bytes]:
    """The JSON request and the binary tail (empty without the binary data extension)."""
    split = len(raw)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise OipError("Inference-Header-Content-Length is not a length within the body")
        split = int(header_length)
    try:
        body = orjson.loads(raw[:split])
    except orjson.JSONDecodeError as exc:
        raise OipError(f"the request body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise OipError("the request body must be a JSON object with 'inputs'")
    return body, raw[split:]


def _flatten(data: Any, shape: list[int]) -> list[Any]:
    """Row-major elements of ``data``, flat or nested exactly as ``shape`` says."""
    if not shape:
        return [data]
    if not isinstance(data, list):
        raise OipError("input 'user_id' data must be a list")
    if all(not isinstance(d, list) for d in data):
        return data
    if len(data) != shape[0]:
        raise OipError(f"input 'user_id' nested data does not match shape {shape}")
    return [x for row in data for x in _flatten(row, shape[1:])]


def _decode_bytes(blob: bytes) -> list[str]:
    """BYTES tensor of the binary extension: each element a 4-byte little-endian length
    and that many bytes."""
    out, at = [], 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise OipError("input 'user_id' binary data is truncated")
        (size,) = struct.unpack_from("<I", blob, at)
        element = blob[at + 4 : at + 4 + size]
        if len(element) != size:
            raise OipError("input 'user_id' binary data is truncated")
        try:
            out.append(element.decode())
        except UnicodeDecodeError:
            raise OipError("input 'user_id' holds bytes that are not UTF-8") from None
        at += 4 + size
    return out


def user_ids(body: dict[str, Any], binary: bytes) -> list[str]:
    """The ``user_id`` input, checked against the declared datatype and shape."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise OipError("'inputs' must be a list of tensors")
    names = [i.get("name") for i in inputs]
    if names != ["user_id"]:
        raise OipError(f"inputs {names} do not match the model's one input 'user_id'")
    tensor = inputs[0]
    if tensor.get("datatype") != "BYTES":
        raise OipError(f"input 'user_id' has datatype {tensor.get('datatype')!r}, not BYTES")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 1
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise OipError(f"input 'user_id' has shape {shape!r}; the model takes [n]")
    params = tensor.get("parameters") or {}
    if not isinstance(params, dict):
        raise OipError("input 'user_id' parameters must be an object")
    if "binary_data_size" in params:
        size = params["binary_data_size"]
        if type(size) is not int or size != len(binary):
            raise OipError("input 'user_id' binary_data_size does not match the body")
        users: list[Any] = _decode_bytes(binary)
    else:
        users = _flatten(tensor.get("data"), shape)
    if len(users) != math.prod(shape):
        raise OipError(f"input 'user_id' has {len(users)} elements, its shape says {shape}")
    if not 1 <= len(users) <= MAX_BATCH:
        raise OipError(f"input 'user_id' must hold 1..{MAX_BATCH} users")
    for user in users:
        if not isinstance(user, str) or not 1 <= len(user) <= MAX_USER_ID:
            raise OipError(f"each user_id must be a string of 1..{MAX_USER_ID} characters")
    return users


def list_length(body: dict[str, Any], max_k: int) -> int:
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        raise OipError("'parameters' must be an object, e.g. {\"k\": 10}")
    k = params.get("k", 10)
    if type(k) is not int or not 1 <= k <= max_k:
        raise OipError(f"parameter k must be an integer in 1..{max_k}, got {k!r}")
    return k


def requested_outputs(body: dict[str, Any]) -> list[str]:
    outputs = body.get("outputs")
    known = [str(o["name"]) for o in OUTPUTS]
    if outputs is None:
        return known
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise OipError("'outputs' must be a list of {\"name\": ...}")
    names = [o.get("name") for o in outputs]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise OipError(f"unknown outputs {unknown}; the model has {known}")
    return [str(n) for n in names]


def attach(
    app: FastAPI,
    holder: ModelHolder,
    metrics: Metrics,
    recommend: Recommend,
    max_k: int,
) -> None:
    """Add the v2 routes to the serving app."""
    names = {holder.deployment, holder.model_name}

    def loaded(name: str, version: str | None) -> Snapshot:
        if name not in names:
            raise OipError(f"no model {name!r} here; this server serves {sorted(names)}", 404)
        snap = holder.current
        if snap is None:
            raise OipError("no model loaded yet; wait for /v2/health/ready", 503)
        if version is not None and f"{holder.model_name}:{version}" not in snap.models:
            loaded_versions = sorted(a.rpartition(":")[2] for a in snap.models)
            raise OipError(f"version {version!r} is not loaded; loaded: {loaded_versions}", 404)
        return snap

    @app.get("/v2")
    async def server_metadata() -> Response:
        return _json({"name": "kibble", "version": __version__, "extensions": []})

    @app.get("/v2/health/live")
    async def live() -> Response:
        return _json({"live": True})

    @app.get("/v2/health/ready")
    async def ready() -> Response:
        is_ready = holder.current is not None
        return _json({"ready": is_ready}, 200 if is_ready else 503)

    def metadata(name: str, version: str | None) -> Response:
        try:
            snap = loaded(name, version)
        except OipError as exc:
            return _error(exc)
        versions = sorted({a.rpartition(":")[2] for a in snap.models}, key=_numeric)
        return _json(
            {
                "name": name,
                "versions": [version] if version else versions,
                "platform": "kibble",
                "inputs": INPUTS,
                "outputs": OUTPUTS,
            }
        )

    @app.get("/v2/models/{name}")
    async def model_metadata(name: str) -> Response:
        return metadata(name, None)

    @app.get("/v2/models/{name}/versions/{version}")
    async def version_metadata(name: str, version: str) -> Response:
        return metadata(name, version)

    def readiness(name: str, version: str | None) -> Response:
        try:
            loaded(name, version)
        except OipError as exc:
            return _error(exc)
        return _json({"name": name, "ready": True})

    @app.get("/v2/models/{name}/ready")
    async def model_ready(name: str) -> Response:
        return readiness(name, None)

    @app.get("/v2/models/{name}/versions/{version}/ready")
    async def version_ready(name: str, version: str) -> Response:
        return readiness(name, version)

    async def infer(name: str, version: str | None, request: Request) -> Response:
        route = VERSION_INFER_ROUTE if version else INFER_ROUTE
        try:
            snap = loaded(name, version)
            body, binary = parse_body(
                await request.body(), request.headers.get("inference-header-content-length")
            )
            users = user_ids(body, binary)
            k = list_length(body, max_k)
            wanted = requested_outputs(body)
        except OipError as exc:
            metrics.errors.labels(route).inc()
            return _error(exc)
        if version is None:
            rows = [recommend(user, k, route) for user in users]
        else:
            arm = f"{holder.model_name}:{version}"
            started = time.perf_counter()
            batch = snap.models[arm].recommend_batch(users, k)
            rows = [[(r.item_id, r.score) for r in batch[user]] for user in users]
            labels = (route, holder.model_name, version, arm)
            metrics.requests.labels(*labels).inc(len(users))
            metrics.latency.labels(*labels).observe(time.perf_counter() - started)
        width = max((len(r) for r in rows), default=0)
        # A list shorter than k (a small catalogue) is padded so the tensor stays [n, k].
        padded = [r + [("", 0.0)] * (width - len(r)) for r in rows]
        columns = {
            "item_id": ("BYTES", [item for row in padded for item, _ in row]),
            "score": ("FP32", [score for row in padded for _, score in row]),
        }
        request_id = body.get("id")
        return _json(
            {
                "model_name": name,
                **({"model_version": version} if version else {}),
                "id": request_id if isinstance(request_id, str) else uuid.uuid4().hex,
                "outputs": [
                    {
                        "name": out,
                        "datatype": columns[out][0],
                        "shape": [len(users), width],
                        "data": columns[out][1],
                    }
                    for out in wanted
                ],
            }
        )

    @app.post("/v2/models/{name}/infer")
    async def model_infer(name: str, request: Request) -> Response:
        return await infer(name, None, request)

    @app.post("/v2/models/{name}/versions/{version}/infer")
    async def version_infer(name: str, version: str, request: Request) -> Response:
        return await infer(name, version, request)


def _numeric(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (0, version)
