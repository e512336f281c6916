"""Signed request ids: an answer's id carries its version and propensity, sealed by HMAC.

``NONCE_VERSION_PROPENSITY.SIGNATURE`` (at most 64 characters, the stored id's width).
Feedback names the id; the server reads the arm (``model:VERSION``) and the propensity
back from it only when the signature verifies, so a client can neither pick the arm its
clicks count for nor invent an answer. Every replica holding the same key verifies
every other's ids, with no lookup and no wait for the asynchronous request log. Pure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

MAX_LENGTH = 64
_SIG_BYTES = 12  # 96 bits: forging one id takes ~2**95 tries


@dataclass(frozen=True)
class Attribution:
    """What the server answered for a request id: the arm and its routing probability."""

    arm: str
    propensity: float


class RequestIds:
    """Issues and verifies the ids of one deployment's answers."""

    def __init__(self, key: bytes, deployment: str, model_name: str) -> None:
        self._key = key
        self._scope = f"{deployment}\x00{model_name}\x00".encode()
        self.model_name = model_name

    def issue(self, arm: str, propensity: float) -> str:
        name, _, version = arm.rpartition(":")
        if name != self.model_name or not version.isdigit():
            raise ValueError(f"arm {arm!r} is not a version of {self.model_name!r}")
        body = f"{secrets.token_hex(10)}_{version}_{propensity:.6g}"
        out = f"{body}.{self._sign(body)}"
        if len(out) > MAX_LENGTH:
            raise ValueError(f"request id {out!r} is over {MAX_LENGTH} characters")
        return out

    def verify(self, request_id: str) -> Attribution | None:
        """The attribution sealed in ``request_id``, or None when it is not one of ours."""
        body, _, signature = request_id.rpartition(".")
        if len(request_id) > MAX_LENGTH or not body:
            return None
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            return None
        _, version, propensity = body.split("_")  # signed by us: well-formed
        return Attribution(f"{self.model_name}:{version}", float(propensity))

    def _sign(self, body: str) -> str:
        mac = hmac.new(self._key, self._scope + body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:_SIG_BYTES]).decode()
