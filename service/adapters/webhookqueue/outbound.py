"""The HTTP POST of a webhook delivery, to public addresses only unless an operator allows the host.

The host is resolved once and every address checked; the connection goes to the checked address
(a DNS answer that changes between the check and the connect cannot redirect it), with the URL's
host kept for the Host header and for TLS (SNI and certificate name). Redirects are never followed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3

from service.vocabulary.errors import BadRequest

EXCERPT_BYTES = 512  # of a receiver's answer, kept in the delivery log


class UnsafeDestination(BadRequest):
    """The URL is not http(s), does not resolve, or names an address Edna must not call."""


class Unresolved(UnsafeDestination):
    """The host does not resolve (now): refused at registration, retried at delivery."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query
    address: str  # the checked IP the connection goes to


def forbidden(address: str) -> bool:
    """Loopback, private, link-local (the cloud metadata service), multicast, reserved, unspecified."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def destination(url: str, allowed_hosts: Collection[str]) -> Destination:
    """Where a POST to `url` would go; UnsafeDestination when it must not go there."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("url is malformed") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeDestination("url must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise UnsafeDestination("url must not carry credentials; deliveries are signed instead")
    host = parts.hostname.lower()
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):  # ValueError: a NUL in the name
        raise Unresolved(f"url's host {host!r} does not resolve") from None
    addresses = [info[4][0] for info in found]
    if host not in allowed_hosts:
        refused = [a for a in addresses if forbidden(a)]
        if refused:
            raise UnsafeDestination(
                f"url's host {host!r} resolves to a private, loopback or link-local address ({refused[0]});"
                " an operator may allow it in EDNA_WEBHOOK_ALLOWED_HOSTS"
            )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port, target, addresses[0])


def post(
    url: str, body: bytes, headers: dict[str, str], allowed_hosts: Collection[str], timeout: float
) -> tuple[int, str]:
    """POST once: (status, excerpt of the answer); UnsafeDestination when refused, ConnectionError when
    the receiver cannot be reached or does not answer in time."""
    try:
        to = destination(url, allowed_hosts)
    except Unresolved as exc:
        raise ConnectionError(exc.message) from None
    default_port = 443 if to.scheme == "https" else 80
    host_header = to.host if to.port == default_port else f"{to.host}:{to.port}"
    if ":" in to.host:  # an IPv6 literal
        host_header = f"[{to.host}]" if to.port == default_port else f"[{to.host}]:{to.port}"
    options = {"timeout": urllib3.Timeout(connect=timeout, read=timeout), "retries": False, "maxsize": 1}
    if to.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(
            to.address, to.port, server_hostname=to.host, assert_hostname=to.host, cert_reqs="CERT_REQUIRED", **options
        )
    else:
        pool = urllib3.HTTPConnectionPool(to.address, to.port, **options)
    with pool:
        try:
            response = pool.urlopen(
                "POST",
                to.target,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                excerpt = response.read(EXCERPT_BYTES).decode("utf-8", "replace")
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
    return response.status, excerpt
