"""SSRF guard: fetch a URL a user gave us without letting it reach inside the network.

Reusable by anything that fetches a user-supplied URL (connectors, webhooks, API):

    check_url(url, allow_private=settings.allow_private_urls)    # raise or return url
    fetch(url, allow_private=..., max_bytes=..., timeout_s=...)  # bytes, guarded

Only http and https are allowed. The host is resolved and every address it resolves
to must be public: loopback, private, link-local (cloud metadata 169.254.169.254),
multicast, reserved and unspecified addresses are refused unless ``allow_private``.
Redirects are followed by hand so each hop is checked again; bodies are streamed and
cut at ``max_bytes``; the whole exchange has a time limit.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit

import httpx

from kibble.errors import UnsafeInputError, UsageError

SCHEMES = ("http", "https")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5


def is_internal_address(address: str) -> bool:
    """True for addresses a public URL must never reach (IPv4-mapped IPv6 included)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def check_url(url: str, *, allow_private: bool = False) -> str:
    """Return ``url`` if it may be fetched; raise ``UnsafeInputError`` naming why not."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise UnsafeInputError(
            f"URL {url!r} uses scheme {parts.scheme or '(none)'!r}; "
            "only http and https are allowed",
            hint="give an http:// or https:// URL; local files are read as paths, not URLs",
        )
    host = parts.hostname
    if not host:
        raise UnsafeInputError(f"URL {url!r} has no host", hint="use http(s)://host/path")
    if parts.username or parts.password:
        raise UnsafeInputError(
            "URL carries user:password credentials", hint="pass credentials in headers instead"
        )
    if allow_private:
        return url
    if host.lower() in METADATA_HOSTS:
        raise UnsafeInputError(f"URL {url!r} targets a cloud metadata service")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeInputError(
            f"cannot resolve host {host!r}: {exc}", hint="check the URL's host name"
        ) from exc
    blocked = sorted({str(i[4][0]) for i in infos if is_internal_address(str(i[4][0]))})
    if blocked:
        raise UnsafeInputError(
            f"URL host {host!r} resolves to an internal address ({', '.join(blocked)})",
            hint="use a public URL, or set allow_private_urls = true for trusted local sources",
        )
    return url


def fetch(
    url: str,
    *,
    allow_private: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    headers: dict[str, str] | None = None,
) -> bytes:
    """GET ``url`` with the guard applied to it and to every redirect hop."""
    current = url
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(current, allow_private=allow_private)
            with client.stream("GET", current, headers=headers) as response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("location", ""))
                    continue
                if response.status_code >= 400:
                    raise UsageError(
                        f"GET {current} answered HTTP {response.status_code}",
                        hint="check the URL and that the source is up",
                    )
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise UnsafeInputError(_too_big(current, max_bytes))
                body = bytearray()
                for chunk in response.iter_bytes():
                    body.extend(chunk)
                    if len(body) > max_bytes:
                        raise UnsafeInputError(_too_big(current, max_bytes))
                return bytes(body)
    raise UnsafeInputError(
        f"{url} redirected more than {MAX_REDIRECTS} times", hint="give the final URL directly"
    )


def _too_big(url: str, limit: int) -> str:
    return f"{url} is larger than the {limit:,}-byte limit; fetch it in pages or raise the limit"
