"""TLS client contexts and wrapping for the gevent transports (wss://, https://).

`gevent.ssl.create_default_context` returns a blocking standard-library context, so contexts are
built here from `gevent.ssl.SSLContext`, whose sockets yield to the hub.
"""

from __future__ import annotations

import socket
import ssl

import gevent.ssl

from rtbench.errors import ConfigError
from rtbench.transports.base import TransportError

__all__ = ["tls_context", "check_tls_context", "wrap_tls"]


def tls_context(cafile: str | None = None, *, insecure: bool = False) -> ssl.SSLContext:
    """A gevent TLS client context that verifies the server against `cafile` or the system CAs;
    with `insecure`, one that checks neither the certificate nor the host name."""
    context: ssl.SSLContext = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif cafile is None:
        context.load_default_certs()
    else:
        context.load_verify_locations(cafile)
    return context


def check_tls_context(context: ssl.SSLContext | None) -> None:
    """A `ConfigError` unless `context` is None or a cooperative `gevent.ssl.SSLContext`."""
    if context is not None and not isinstance(context, gevent.ssl.SSLContext):
        raise ConfigError("ssl_context must be a gevent.ssl.SSLContext (see tls_context())")


def wrap_tls(sock: socket.socket, context: ssl.SSLContext | None, host: str, url: str) -> socket.socket:
    """`sock` after a TLS handshake with `host` (`context` defaults to `tls_context()`); on
    failure the socket is closed and a `TransportError` of kind "handshake" raised."""
    try:
        return (context or tls_context()).wrap_socket(sock, server_hostname=host)
    except (OSError, ssl.SSLError) as exc:
        sock.close()
        raise TransportError("handshake", f"TLS handshake with {url} failed: {exc}") from None
