"""Where alert notifications go: the log, a webhook (JSON POST), a JSON-lines outbox.

A notifier failure never loses the alert: the alert is already stored; the failure is
logged and recorded on the alert's history so an operator can see it. Webhook URLs pass
the platform's SSRF guard (``kibble.data.urls``) and are pinned to the checked address.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx

from kibble.config import Settings
from kibble.data.urls import check_url, is_internal_address
from kibble.errors import ConfigError, KibbleError, UnsafeInputError

log = logging.getLogger("kibble.alerts")
CHANNELS = ("log", "webhook", "outbox")


class Notifier(Protocol):
    name: str

    def send(self, payload: dict[str, Any]) -> None: ...


@dataclass
class LogNotifier:
    name: str = "log"

    def send(self, payload: dict[str, Any]) -> None:
        alert = payload["alert"]
        level = logging.ERROR if alert.get("severity") == "critical" else logging.WARNING
        log.log(
            level,
            "alert %s %s: %s",
            payload["event"],
            alert["kind"],
            alert["message"],
            extra={"alert_id": alert["id"], "fingerprint": alert["fingerprint"]},
        )


@dataclass(frozen=True)
class Target:
    """Where a webhook connects: ``url`` with the host replaced by the checked address
    when ``pinned``; ``host`` goes in the Host header and the TLS server name."""

    url: str
    host: str
    pinned: bool


def pin(url: str, *, allow_private: bool = False) -> Target:
    """Guard ``url`` (the data layer's SSRF guard), then pin the address to connect to.

    The guard resolves the host and refuses internal addresses; connecting by name would
    resolve it again, and a DNS server that answers differently the second time
    (rebinding) could aim the POST inside the network. So the address is resolved once
    more here, checked, and used directly, with the name kept for Host and TLS.
    """
    check_url(url, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if allow_private:
        return Target(url, netloc, pinned=False)
    try:
        address = str(
            socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)[0][4][0]
        )
    except (socket.gaierror, IndexError) as exc:
        raise UnsafeInputError(
            f"cannot resolve the webhook host {host!r}: {exc}",
            hint="check monitoring.webhook_url",
        ) from exc
    if is_internal_address(address):
        raise UnsafeInputError(
            f"webhook host {host!r} now resolves to an internal address ({address})",
            hint="the host's DNS answer changed to a private address; use a stable public host",
        )
    literal = f"[{address}]" if ":" in address else address
    if literal in (host, f"[{host}]"):
        return Target(url, netloc, pinned=False)
    port = f":{parts.port}" if parts.port else ""
    return Target(urlunsplit(parts._replace(netloc=literal + port)), netloc, pinned=True)


@dataclass
class WebhookNotifier:
    url: str
    timeout_s: float = 5.0
    allow_private: bool = False
    name: str = "webhook"

    def send(self, payload: dict[str, Any]) -> None:
        target = pin(self.url, allow_private=self.allow_private)
        url = self.url
        headers = {"Host": target.host} if target.pinned else {}
        extensions = {"sni_hostname": urlsplit(url).hostname or ""} if target.pinned else {}
        try:
            with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
                response = client.post(
                    target.url, json=payload, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as exc:
            raise KibbleError(
                f"webhook {url} could not be reached: {exc}",
                hint="check monitoring.webhook_url and that the receiver is up",
            ) from exc
        if response.status_code >= 300:
            raise KibbleError(
                f"webhook {url} answered {response.status_code}",
                hint="check the receiver's logs; 3xx redirects are not followed",
            )


@dataclass
class OutboxNotifier:
    """Appends one JSON object per line; tests and sidecars read it."""

    path: Path
    name: str = "outbox"

    def send(self, payload: dict[str, Any]) -> None:
        line = (json.dumps(payload, default=str, sort_keys=True) + "\n").encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise KibbleError(
                f"cannot append to the alert outbox {self.path}: {exc}",
                hint="check monitoring.outbox_path and its folder's permissions",
            ) from exc


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def outbox_path(settings: Settings) -> Path:
    configured = settings.monitoring.outbox_path
    return Path(configured).expanduser() if configured else settings.home / "alerts.jsonl"


def notifiers_from_settings(settings: Settings) -> list[Notifier]:
    """The channels named in ``monitoring.channels``, configured from settings."""
    wanted = [c.strip() for c in settings.monitoring.channels.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CHANNELS]
    if unknown:
        raise ConfigError(
            f"unknown alert channel(s): {', '.join(unknown)}",
            hint=f"monitoring.channels takes a comma-separated list of {', '.join(CHANNELS)}",
        )
    result: list[Notifier] = []
    for channel in wanted:
        if channel == "log":
            result.append(LogNotifier())
        elif channel == "outbox":
            result.append(OutboxNotifier(outbox_path(settings)))
        else:
            if not settings.monitoring.webhook_url:
                raise ConfigError(
                    "the webhook alert channel is on but monitoring.webhook_url is empty",
                    hint="set KIBBLE_MONITORING__WEBHOOK_URL or drop 'webhook' from channels",
                )
            result.append(
                WebhookNotifier(
                    settings.monitoring.webhook_url,
                    settings.monitoring.webhook_timeout_s,
                    settings.allow_private_urls,
                )
            )
    return result
