"""SSRF guard: fetch a URL a user gave us without letting it reach inside the network.

Reusable by anything that fetches a user-supplied URL (connectors, webhooks, API):

    check_url(url, allow_private=settings.allow_private_urls)    # raise or return url
    fetch(url, allow_private=..., max_bytes=..., timeout_s=...)  # bytes, guarded

Only http and https are allowed. The host is resolved and every address it resolves
to must be public (``is_internal_address`` names each refused range), unless
``allow_private``. ``fetch`` then connects to the address it checked, not to the name
(which a rebinding DNS server could answer differently the second time), keeping the
name for Host and TLS. Redirects are followed by hand so each hop is checked again;
bodies are streamed and cut at ``max_bytes``; the whole exchange has a time limit.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from kibble.errors import UnsafeInputError, UsageError

SCHEMES = ("http", "https")
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5


# Refused whatever the Python version's idea of "global": shared address space (carrier
# NAT, where some clouds keep their metadata service), IETF protocol assignments,
# benchmarking, local-use NAT64.
ALWAYS_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in ("100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "64:ff9b:1::/48")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries: IPv4-mapped, IPv4-compatible, 6to4, NAT64."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # ::a.b.c.d (not :: or ::1)
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_internal_address(address: str) -> bool:
    """True for addresses a public URL must never reach: anything not global (loopback,
    private, link-local, reserved, documentation...), multicast, ``ALWAYS_INTERNAL``,
    and IPv6 forms of an internal IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            return is_internal_address(str(inner))
    return not ip.is_global or ip.is_multicast or any(ip in n for n in ALWAYS_INTERNAL)


def check_url(url: str, *, allow_private: bool = False) -> str:
    """Return ``url`` if it may be fetched; raise ``UnsafeInputError`` naming why not."""
    _checked_addresses(url, allow_private=allow_private)
    return url


def _checked_addresses(url: str, *, allow_private: bool) -> list[str]:
    """The addresses ``url``'s host resolves to, all public (none: not checked)."""
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
        return []
    if host.lower() in METADATA_HOSTS:
        raise UnsafeInputError(f"URL {url!r} targets a cloud metadata service")
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeInputError(
            f"cannot resolve host {host!r}: {exc}", hint="check the URL's host name"
        ) from exc
    addresses = [str(i[4][0]) for i in infos]
    blocked = sorted({a for a in addresses if is_internal_address(a)})
    if blocked or not addresses:
        raise UnsafeInputError(
            f"URL host {host!r} resolves to an internal address ({', '.join(blocked)})",
            hint="use a public URL, or set allow_private_urls = true for trusted local sources",
        )
    return addresses


def _pinned(url: str, addresses: list[str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` aimed at the checked address: (url, headers, extensions) for httpx."""
    if not addresses:
        return url, {}, {}
    parts = urlsplit(url)
    address = addresses[0].split("%", 1)[0]
    literal = f"[{address}]" if ":" in address else address
    port = f":{parts.port}" if parts.port else ""
    host = parts.netloc.rsplit("@", 1)[-1]
    pinned = urlunsplit(parts._replace(netloc=literal + port))
    return pinned, {"Host": host}, {"sni_hostname": parts.hostname or ""}


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
            target, host, extensions = _pinned(
                current, _checked_addresses(current, allow_private=allow_private)
            )
            sent = {**(headers or {}), **host}
            with client.stream("GET", target, headers=sent, extensions=extensions) as response:
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
