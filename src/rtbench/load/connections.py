"""How the load layer builds a connection: the one place that constructs a transport.

`transport_factory(config, ...)` returns a `TransportFactory`, which builds (does not connect) a
connection for an adapter that reports to a session's listener. A session takes any such factory,
so tests can hand it connections of their own.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable

from rtbench.config import RunConfig
from rtbench.protocols.base import ProtocolAdapter, adapter_class
from rtbench.transports.base import CallbackListener, ConnectOptions, Transport, transport_for
from rtbench.transports.deflate import DeflateOffer
from rtbench.transports.tally import WireTally

__all__ = [
    "CallbackListener",
    "TransportFactory",
    "check_transport",
    "deflate_offer",
    "transport_factory",
    "is_persistent",
]


def is_persistent(adapter: ProtocolAdapter | type[ProtocolAdapter], url: str) -> bool:
    """Whether the connection that carries `adapter` to `url` is the session (WebSocket), rather
    than one HTTP exchange per turn: the transport's `persistent` capability."""
    cls = adapter if isinstance(adapter, type) else type(adapter)
    return transport_for(cls, url).persistent


def check_transport(config: RunConfig) -> None:
    """A `ConfigError` (one line) when no transport carries the protocol to the target's scheme,
    e.g. openai-chat (streamed HTTP) at a ws:// URL: found before any user starts."""
    transport_for(adapter_class(config.target.protocol), config.target.url)


#: Builds (does not connect) one connection for `adapter` that reports to the listener, from the
#: local source address given (None: the system's choice).
TransportFactory = Callable[[ProtocolAdapter, CallbackListener, "str | None"], Transport]


def deflate_offer(config: RunConfig) -> DeflateOffer | None:
    """The permessage-deflate offer of `[target] compression` (None: no compression)."""
    table = config.target.compression
    if not table:
        return None
    return DeflateOffer(**{key: value for key, value in table.items() if key != "method"})


def transport_factory(
    config: RunConfig, ssl_context: ssl.SSLContext | None, tally: WireTally | None = None
) -> TransportFactory:
    """The connections of a run: the adapter's transport to the target, with the run's options
    (one `ConnectOptions` per source address, shared by every connection from it), counting
    their bytes and requests in `tally`."""
    url, target = config.target.url, config.target
    shared = ConnectOptions(
        target.connect_timeout, dict(target.headers) or None, None, ssl_context, deflate_offer(config), tally
    )
    by_source: dict[str | None, ConnectOptions] = {None: shared}

    def build(adapter: ProtocolAdapter, listener: CallbackListener, source_address: str | None) -> Transport:
        options = by_source.get(source_address)
        if options is None:
            options = by_source[source_address] = dataclasses.replace(shared, source_address=source_address)
        return transport_for(type(adapter), url)(url, options, listener)

    return build
