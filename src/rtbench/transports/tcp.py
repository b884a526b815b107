"""Client TCP connections under gevent: the parts of a target URL, DNS, connect, source address.

Sockets are gevent sockets made here, so their I/O is cooperative whether or not the standard
library is monkey-patched. A `source_address` is bound with `IP_BIND_ADDRESS_NO_PORT`, so many
sessions can spread over 127.0.0.0/8 without exhausting the ephemeral ports of one address pair.
Failures become `TransportError`s of kind "dns" or "refused".
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.socket

from rtbench.errors import ConfigError
from rtbench.transports.base import ConnectOptions, ConnectTiming, TransportError
from rtbench.transports.tls import check_tls_context

__all__ = [
    "IP_BIND_ADDRESS_NO_PORT",
    "AddrInfo",
    "Target",
    "split_target",
    "checked_target",
    "source_family",
    "resolve",
    "open_tcp",
    "connect_within",
]

#: Linux socket option: reserve the port at connect() rather than bind(), so a bound source
#: address does not cap the connections at one ephemeral port range for all destinations.
IP_BIND_ADDRESS_NO_PORT: int = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)

#: One `getaddrinfo` result: family, socket type, protocol, canonical name, socket address.
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL points."""

    host: str
    port: int
    #: True for the TLS scheme (https, wss).
    secure: bool
    #: The request target: path (at least "/") and query.
    path: str
    #: The Host header value: host, and port if the URL names one.
    authority: str


def split_target(url: str, default_ports: Mapping[str, int], secure_scheme: str) -> Target:
    """The `Target` of `url`, whose scheme must be a key of `default_ports`; else a `ConfigError`."""
    schemes = " or ".join(f"{scheme}://" for scheme in default_ports)
    try:
        parts = urlsplit(url)
        default_port = default_ports[parts.scheme]  # the scheme is checked even when a port is given
        port = parts.port or default_port
    except (ValueError, KeyError):
        raise ConfigError(f"not a {schemes} URL with a valid port: {url!r}") from None
    if not parts.hostname:
        raise ConfigError(f"no host in URL {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    return Target(parts.hostname, port, parts.scheme == secure_scheme, path, authority)


def checked_target(url: str, options: ConnectOptions, default_ports: Mapping[str, int], secure_scheme: str) -> Target:
    """The `Target` of `url` once `options` are known usable for it: a bad URL, source address or
    TLS context is a `ConfigError` now, not at connect."""
    check_tls_context(options.ssl_context)
    target = split_target(url, default_ports, secure_scheme)
    source_family(options.source_address)
    return target


def source_family(source_address: str | None) -> int:
    """The address family to resolve the target in: that of `source_address`, or any."""
    if source_address is None:
        return socket.AF_UNSPEC
    try:
        version = ipaddress.ip_address(source_address).version
    except ValueError:
        raise ConfigError(f"not an IP address: {source_address!r}") from None
    return socket.AF_INET if version == 4 else socket.AF_INET6


def resolve(host: str, port: int, family: int) -> list[AddrInfo]:
    """`getaddrinfo` for a TCP connection, cooperatively; a `TransportError("dns")` on failure.

    An IP literal is answered here: gevent's resolver sends every lookup through a thread pool,
    a round trip (and the objects it leaves behind) for each of thousands of connects."""
    literal = _ip_literal(host.strip("[]"), port, family)
    if literal is not None:
        return literal
    try:
        found: list[AddrInfo] = gevent.socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise TransportError("dns", f"cannot resolve {host!r}: {exc}") from None
    return found


def _ip_literal(host: str, port: int, family: int) -> list[AddrInfo] | None:
    """What getaddrinfo gives for an IP literal of `family` (or any family); None otherwise."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    address: tuple[Any, ...]
    if ip.version == 4:
        ip_family, address = socket.AF_INET, (host, port)
    else:
        if "%" in host:
            return None  # a scoped address: let getaddrinfo resolve the scope
        ip_family, address = socket.AF_INET6, (host, port, 0, 0)
    if family not in (socket.AF_UNSPEC, ip_family):
        return None  # getaddrinfo explains the mismatch
    return [(ip_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", address)]


def open_tcp(addresses: list[AddrInfo], source_address: str | None, where: str) -> socket.socket:
    """A TCP_NODELAY connection to the first of `addresses` that accepts one, bound to
    `source_address` if given; a `TransportError("refused")` naming `where` if none does."""
    error: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock: socket.socket = gevent.socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source_address is not None:
                _bind_source(sock, source_address)
            sock.connect(address)
            return sock
        except BaseException as exc:
            sock.close()
            if not isinstance(exc, OSError):
                raise
            error = exc
    raise TransportError("refused", f"cannot connect to {where}: {error}")


def _bind_source(sock: socket.socket, source_address: str) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    except OSError:  # not Linux: bind() then reserves the port at once
        pass
    sock.bind((source_address, 0))


def connect_within(
    target: Target,
    timeout: float,
    clock: Callable[[], float],
    source_address: str | None = None,
    handshake: Callable[[socket.socket], socket.socket] | None = None,
) -> tuple[socket.socket, ConnectTiming]:
    """Resolve, connect and run `handshake` (TLS, an upgrade) on the new socket, all within
    `timeout` seconds. The timing runs from the start of the TCP connect to the end of the
    handshake. Failures are `TransportError`s: "dns", "refused", "timeout", or the handshake's."""
    deadline = gevent.Timeout(timeout)
    deadline.start()
    sock: socket.socket | None = None
    try:
        addresses = resolve(target.host, target.port, source_family(source_address))
        start = clock()
        sock = open_tcp(addresses, source_address, f"{target.host}:{target.port}")
        if handshake is not None:
            sock = handshake(sock)
        return sock, ConnectTiming(start, clock())
    except gevent.Timeout as exc:
        if exc is not deadline:
            raise
        if sock is not None:
            sock.close()
        raise TransportError("timeout", f"no connection to {target.host}:{target.port} within {timeout:g} s") from None
    finally:
        deadline.close()
