"""How the load layer builds a connection: the one place that knows each transport's constructor.

`transport_factory(config, ...)` returns a `TransportFactory`, which builds (does not connect) a
connection for an adapter that reports to a session's `ConnectionCallbacks`. A session takes any
such factory, so tests can hand it connections of their own.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from typing import Any, NamedTuple

from rtbench.config import RunConfig
from rtbench.protocols.base import ProtocolAdapter
from rtbench.transports.base import Transport, transport_class

__all__ = ["ConnectionCallbacks", "TransportFactory", "transport_factory", "is_persistent"]


def is_persistent(adapter: ProtocolAdapter | type[ProtocolAdapter]) -> bool:
    """Whether the adapter's connection carries the session (WebSocket), rather than one HTTP
    exchange per turn: the one place rtbench asks this of a transport."""
    return adapter.transport == "websocket"


class ConnectionCallbacks(NamedTuple):
    """Where one connection reports: frames, its end and (HTTP) the response's start and end."""

    on_frame: Callable[[str | bytes, float], None]
    on_close: Callable[[str], None]
    on_response_start: Callable[[int, str, float], None]
    on_response_end: Callable[[float], None]


#: Builds (does not connect) one connection for `adapter` that reports to the callbacks, from the
#: local source address given (None: the system's choice).
TransportFactory = Callable[[ProtocolAdapter, ConnectionCallbacks, "str | None"], Transport]


def transport_factory(config: RunConfig, ssl_context: ssl.SSLContext | None) -> TransportFactory:
    """The connections of a run: the adapter's transport to `config.target`, with its options."""

    def build(adapter: ProtocolAdapter, callbacks: ConnectionCallbacks, source_address: str | None) -> Transport:
        extra: dict[str, Any] = {}
        if not is_persistent(adapter):
            extra = {"on_response_start": callbacks.on_response_start, "on_response_end": callbacks.on_response_end}
        return transport_class(adapter.transport)(
            config.target,  # type: ignore[call-arg]
            connect_timeout=config.connect_timeout,
            headers=dict(config.headers) or None,
            source_address=source_address,
            ssl_context=ssl_context,
            on_frame=callbacks.on_frame,
            on_close=callbacks.on_close,
            **extra,
        )

    return build
