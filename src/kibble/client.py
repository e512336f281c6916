"""``kibble.Client``: the control-plane API from a notebook or a script.

    client = kibble.Client("http://127.0.0.1:8000", token="kb_...")
    client.runs(status="held")

Methods mirror the REST endpoints and return plain dicts and lists; errors come back as
the same ``KibbleError`` classes the local code raises, with the server's hint.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from kibble.errors import (
    AuthenticationError,
    ConflictError,
    KibbleError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    UsageError,
)

ERRORS: dict[int, type[KibbleError]] = {
    400: UsageError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: UsageError,
    415: UsageError,
    422: UsageError,
    429: QuotaExceededError,
}


def _seg(value: str) -> str:
    """One path segment, encoded so it can never add or climb a level."""
    if value in ("", ".", ".."):
        raise UsageError(f"{value!r} is not a usable name or id", hint="pass a real name")
    return quote(value, safe="")


class Client:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        project: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url:
            raise UsageError("no API URL given", hint="set KIBBLE_API_URL or pass url=")
        if not token:
            raise AuthenticationError("no API token given", hint="set KIBBLE_TOKEN or pass token=")
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "User-Agent": "kibble-client"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )
        self._project = project

    # -- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def project(self) -> str:
        """The token's project (asked from the server once when not given)."""
        if self._project is None:
            self._project = str(self.whoami()["project"])
        return self._project

    def _p(self, *parts: str) -> str:
        return "/".join(["/api/v1/projects", _seg(self.project), *(_seg(p) for p in parts)])

    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotency_key: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise KibbleError(
                f"cannot reach the kibble API at {self._http.base_url}: {exc}",
                hint="check KIBBLE_API_URL and that `kibble api` is running",
            ) from exc
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: httpx.Response) -> KibbleError:
        try:
            body = response.json().get("error", {})
            message, hint = str(body.get("message", "")), str(body.get("hint", "")) or None
        except (ValueError, AttributeError):
            message, hint = response.text[:200], None
        cls = ERRORS.get(response.status_code, KibbleError)
        return cls(f"API {response.status_code}: {message}", hint=hint)

    def _get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self._request("GET", path, params=clean).json()

    # -- identity ----------------------------------------------------------------------

    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get("/api/v1/whoami")
        return result

    def projects(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get("/api/v1/projects")
        return result

    def project_info(self) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p())
        return result

    def set_quota(
        self,
        *,
        max_concurrent_runs: int | None = None,
        max_storage_bytes: int | None = None,
        max_deployments: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        body = {
            "max_concurrent_runs": max_concurrent_runs,
            "max_storage_bytes": max_storage_bytes,
            "max_deployments": max_deployments,
        }
        response = self._request(
            "PUT", self._p("quota"), json=body, idempotency_key=idempotency_key
        )
        result: dict[str, Any] = response.json()
        return result

    def members(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("members"))
        return result

    def set_member(self, user: str, role: str, *, idempotency_key: str | None = None) -> Any:
        return self._request(
            "PUT", self._p("members", user), json={"role": role}, idempotency_key=idempotency_key
        ).json()

    def remove_member(self, user: str, *, idempotency_key: str | None = None) -> Any:
        return self._request(
            "DELETE", self._p("members", user), idempotency_key=idempotency_key
        ).json()

    def tokens(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("tokens"), include_revoked=include_revoked)
        return result

    def create_token(
        self,
        user: str,
        *,
        name: str = "",
        role: str | None = None,
        scopes: list[str] | None = None,
        days: int | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """A new token; its ``token`` value appears in this result only."""
        body = {"user": user, "name": name, "role": role, "scopes": scopes or [], "days": days}
        result: dict[str, Any] = self._request(
            "POST", self._p("tokens"), json=body, idempotency_key=idempotency_key
        ).json()
        return result

    def revoke_token(self, token_id: str, *, idempotency_key: str | None = None) -> Any:
        return self._request(
            "DELETE", self._p("tokens", token_id), idempotency_key=idempotency_key
        ).json()

    def audit(self, action: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("audit"), action=action, limit=limit)
        return result

    # -- artifacts -----------------------------------------------------------------------

    def artifacts(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("artifacts"), limit=limit, offset=offset)
        return result

    def artifact(self, digest: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("artifacts", digest))
        return result

    def download_artifact(self, digest: str) -> bytes:
        return self._request("GET", self._p("artifacts", digest, "content")).content

    def upload_artifact(
        self,
        data: bytes,
        media_type: str,
        *,
        name: str = "",
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST",
            self._p("artifacts"),
            content=data,
            params={"name": name},
            headers={"Content-Type": media_type},
            idempotency_key=idempotency_key,
        ).json()
        return result

    # -- read-only areas -----------------------------------------------------------------

    def datasets(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("datasets"), limit=limit, offset=offset)
        return result

    def dataset(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("datasets", name))
        return result

    def table_versions(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("datasets", name, "versions"), limit=limit)
        return result

    def runs(
        self,
        *,
        status: str | None = None,
        pipeline: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(
            self._p("runs"), status=status, pipeline=pipeline, limit=limit, offset=offset
        )
        return result

    def run(self, run_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("runs", run_id))
        return result

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("runs", run_id, "steps"))
        return result

    def models(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("models"), limit=limit, offset=offset)
        return result

    def model(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("models", name))
        return result

    def model_versions(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("models", name, "versions"), limit=limit)
        return result

    def deployments(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("deployments"), limit=limit, offset=offset)
        return result

    def deployment(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("deployments", name))
        return result

    def alerts(self, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._get(self._p("alerts"), status=status, limit=limit)
        return result

    def alert(self, alert_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._get(self._p("alerts", alert_id))
        return result
