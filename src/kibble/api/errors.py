"""One error shape for every response: ``{"error": {"code", "message", "hint"}}``.

The status comes from ``KibbleError.http_status``; the code is the class name in
snake case (``not_found``, ``permission_denied``) so clients can branch on it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from kibble.errors import AuthenticationError, KibbleError

log = logging.getLogger("kibble.api")

STATUS_CODES = {
    400: "bad_request",
    401: "authentication",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    421: "misdirected_request",
    429: "quota_exceeded",
    500: "internal",
}


def code_of(error: KibbleError) -> str:
    name = type(error).__name__.removesuffix("Error") or "Kibble"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint or ""}}


def error_response(status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(code, message, hint), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(KibbleError)
    async def kibble_error(_request: Request, exc: KibbleError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("request failed: %s", exc)
        status = exc.http_status
        if isinstance(exc, AuthenticationError):
            status = 401
        return error_response(status, code_of(exc), exc.message, exc.hint)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()[:5]
        ]
        return error_response(
            400,
            "invalid_request",
            "; ".join(problems) or "invalid request",
            "see /openapi.json for the expected shape",
        )

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in the API")
        return error_response(
            500,
            "internal",
            "the server hit an unexpected error",
            "it is logged; retry or report it",
        )
