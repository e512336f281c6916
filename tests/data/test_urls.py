"""The outbound URL guard, table-driven: each non-public range by name, its IPv6 forms,
and a public address of each kind that must pass."""

from __future__ import annotations

import pytest

from kibble.data.urls import _pinned, check_url, is_internal_address
from kibble.errors import UnsafeInputError

REFUSED = {
    "loopback": "127.0.0.1",
    "this network 0/8": "0.1.2.3",
    "private 10/8": "10.1.2.3",
    "private 172.16/12": "172.16.5.4",
    "private 192.168/16": "192.168.1.1",
    "link-local / cloud metadata": "169.254.169.254",
    "shared address space 100.64/10": "100.64.0.1",
    "shared address space (Alibaba metadata)": "100.100.100.200",
    "benchmarking 198.18/15": "198.19.255.254",
    "documentation 192.0.2/24": "192.0.2.10",
    "IETF protocol 192.0.0/24": "192.0.0.8",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "multicast v4": "224.0.0.1",
    "IPv6 loopback": "::1",
    "IPv6 unspecified": "::",
    "IPv6 unique local fc00::/7": "fd12:3456::1",
    "IPv6 link-local": "fe80::1",
    "IPv6 link-local with zone": "fe80::1%eth0",
    "IPv6 multicast": "ff02::1",
    "IPv6 documentation": "2001:db8::1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata": "::ffff:169.254.169.254",
    "IPv4-mapped shared address space": "::ffff:100.64.0.1",
    "IPv4-compatible private": "::10.0.0.1",
    "IPv4-compatible metadata": "::169.254.169.254",
    "6to4 of metadata": "2002:a9fe:a9fe::1",
    "6to4 of private": "2002:c0a8:0101::",
    "NAT64 of metadata": "64:ff9b::169.254.169.254",
    "NAT64 of shared address space": "64:ff9b::100.64.0.1",
    "local-use NAT64 64:ff9b:1::/48": "64:ff9b:1::808:808",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
}
PUBLIC = {
    "public v4": "8.8.8.8",
    "public v6": "2606:4700:4700::1111",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "6to4 of public": "2002:0808:0808::1",
    "NAT64 of public": "64:ff9b::8.8.8.8",
    "just outside 100.64/10": "100.128.0.1",
    "just outside 198.18/15": "198.20.0.1",
}


@pytest.mark.parametrize("address", REFUSED.values(), ids=REFUSED.keys())
def test_each_non_public_range_is_refused(address: str) -> None:
    assert is_internal_address(address)
    if "%" not in address:  # a zone id is not part of a URL's host
        literal = f"[{address}]" if ":" in address else address
        with pytest.raises(UnsafeInputError, match="internal address"):
            check_url(f"http://{literal}/x")


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_addresses_pass(address: str) -> None:
    assert not is_internal_address(address)


def test_a_name_is_checked_after_resolution() -> None:
    with pytest.raises(UnsafeInputError, match="internal address"):
        check_url("http://localhost:9/")


def test_fetch_connects_to_the_checked_address_keeping_the_name() -> None:
    url, headers, extensions = _pinned("https://example.com:8443/a?b=1", ["93.184.216.34"])
    assert url == "https://93.184.216.34:8443/a?b=1"
    assert headers == {"Host": "example.com:8443"}
    assert extensions == {"sni_hostname": "example.com"}
    v6, _, _ = _pinned("http://example.com/", ["2606:2800:220:1::1"])
    assert v6 == "http://[2606:2800:220:1::1]/"
    assert _pinned("http://x/", []) == ("http://x/", {}, {})  # allow_private: by name
