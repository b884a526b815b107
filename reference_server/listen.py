"""Listening-address checks and the one-line errors for them."""

from __future__ import annotations

import errno
import socket

__all__ = ["BACKLOG", "ListenError", "PortInUseError", "StartupError", "ensure_port_free", "http_url"]

#: The listen backlog (the kernel caps it at net.core.somaxconn).
BACKLOG = 4096


class StartupError(Exception):
    """The server cannot start; the message is one line for the user."""


class ListenError(StartupError):
    """The server cannot listen where it was asked to."""


class PortInUseError(ListenError):
    """Another socket already listens on the port."""


def ensure_port_free(host: str, port: int) -> None:
    """Raise PortInUseError if anything listens on `host:port`.

    The workers bind with SO_REUSEPORT, which would let them share a port silently with another
    server that also set it. This probe binds without SO_REUSEPORT (but with SO_REUSEADDR, so
    connections in TIME_WAIT do not count), which fails if any socket listens there.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(f"port {port} on {host} is already in use") from None
                raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def http_url(host: str, port: int) -> str:
    """`http://host:port`, with an IPv6 address in brackets."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
