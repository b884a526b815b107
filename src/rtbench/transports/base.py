"""The transport contract: one constructor, a listener, capability flags, selection by capability.

A transport owns one connection. It is built as `cls(url, options, listener, clock)`; `connect()`
opens the connection and says how long that took; afterwards the transport hands every incoming
frame (or byte chunk) to `listener.on_frame(frame, received_at)`, the head and the end of each
streamed HTTP response to `on_response_start` / `on_response_end`, and, when the connection ends
for any reason, calls `on_close(reason)` exactly once.

A transport class says what it can carry instead of being named: its `wire` (the
`rtbench.protocols.base.Wire` an adapter declares), the URL `schemes` it dials, and whether it is
`persistent`. `transport_for(adapter_class, url)` picks the registered class for the adapter's
wire and the URL's scheme.
"""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import ClassVar, Literal, Protocol, TypeVar

from rtbench.errors import ConfigError
from rtbench.protocols.base import ProtocolAdapter, Wire
from rtbench.transports.deflate import DeflateOffer
from rtbench.transports.tally import WireTally

__all__ = [
    "TransportError",
    "ErrorKind",
    "ConnectTiming",
    "ConnectOptions",
    "TransportListener",
    "CallbackListener",
    "FrameHandler",
    "CloseHandler",
    "ResponseStartHandler",
    "ResponseEndHandler",
    "Clock",
    "Transport",
    "TRANSPORTS",
    "register_transport",
    "transport_for",
]

#: What went wrong: DNS lookup, TCP connect refused or unreachable, no connection within the
#: timeout, an upgrade/TLS handshake that failed, or a connection that is (now) closed.
ErrorKind = Literal["dns", "refused", "timeout", "handshake", "closed"]

#: Called with each incoming frame and the monotonic time it was received.
FrameHandler = Callable[[str | bytes, float], None]
#: Called once with a human-readable reason when the connection ends.
CloseHandler = Callable[[str], None]
#: Called with the status code, the reason phrase and the receive time of a response's head.
ResponseStartHandler = Callable[[int, str, float], None]
#: Called with the receive time of the end of a response's body.
ResponseEndHandler = Callable[[float], None]
#: A monotonic clock in seconds.
Clock = Callable[[], float]


class TransportError(Exception):
    """A connection could not be made or used. A runtime condition, not a configuration error."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        #: The category of failure, for delivery accounting.
        self.kind: ErrorKind = kind


@dataclass(frozen=True, slots=True)
class ConnectTiming:
    """When connecting started (TCP connect) and ended (handshake complete), on the clock given."""

    start: float
    end: float


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to connect; the same for every transport (an in-memory one ignores what it cannot use)."""

    #: Seconds for the whole connect: DNS, TCP, TLS and any upgrade.
    connect_timeout: float = 10.0
    #: Extra request headers (the WebSocket upgrade's, or every HTTP request's).
    headers: Mapping[str, str] | None = None
    #: The local IP address to connect from (bound with `IP_BIND_ADDRESS_NO_PORT`), or any.
    source_address: str | None = None
    #: For wss:// and https://: a `gevent.ssl.SSLContext` (None: `tls.tls_context()`).
    ssl_context: ssl.SSLContext | None = None
    #: WebSocket: permessage-deflate to offer in the upgrade (None: no compression offered).
    compression: DeflateOffer | None = None
    #: Where the connection counts its bytes and requests (None: a tally of its own, unread).
    tally: WireTally | None = None


class TransportListener(Protocol):
    """What a transport reports to. Each method is called from the transport's reader."""

    def on_frame(self, frame: str | bytes, received_at: float) -> None:
        """An incoming message (`Wire.MESSAGES`) or piece of response body (`Wire.HTTP_STREAM`)."""

    def on_close(self, reason: str) -> None:
        """The connection ended (called exactly once, also after `close()`)."""

    def on_response_start(self, status: int, reason: str, received_at: float) -> None:
        """`Wire.HTTP_STREAM` only: the status line of a response arrived."""

    def on_response_end(self, received_at: float) -> None:
        """`Wire.HTTP_STREAM` only: a response body ended by its framing."""


def _ignore(*_: object) -> None:
    pass


@dataclass(frozen=True, slots=True)
class CallbackListener:
    """A `TransportListener` made of plain callables (the response ones default to no-ops)."""

    on_frame: FrameHandler
    on_close: CloseHandler
    on_response_start: ResponseStartHandler = _ignore
    on_response_end: ResponseEndHandler = _ignore


class Transport(ABC):
    """One connection to the target, driven from greenlets."""

    __slots__ = ()

    #: What the transport carries; an adapter's `wire` must match it.
    wire: ClassVar[Wire]
    #: The URL schemes it connects to.
    schemes: ClassVar[tuple[str, ...]]
    #: True when one connection is the session: it carries all of the session's turns, and its
    #: unrequested end is a drop (which a protocol that supports it may resume). False when a
    #: connection is only a carrier of requests, whose end between turns is ordinary churn.
    persistent: ClassVar[bool]

    @abstractmethod
    def __init__(
        self,
        url: str,
        options: ConnectOptions,
        listener: TransportListener,
        clock: Clock = perf_counter,
    ) -> None:
        """A transport to `url`, not yet connected; all receive times are taken on `clock`.
        A URL or option it cannot use is a `ConfigError` here, not at connect."""

    @abstractmethod
    def connect(self) -> ConnectTiming:
        """Open the connection and start the reader; raise `TransportError` on failure."""

    @abstractmethod
    def send(self, message: str) -> None:
        """Send one message; raise `TransportError` (kind "closed") if the connection is gone."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection and stop the reader. Idempotent."""

    @property
    @abstractmethod
    def connected(self) -> bool:
        """True between a successful `connect()` and the end of the connection."""

    @property
    def busy(self) -> bool:
        """True while a response is still arriving after its request (a carrier of requests,
        whose turn may end at the protocol's last event before the response itself has ended)."""
        return False

    @property
    def resendable(self) -> bool:
        """True when the connection ended (or its send failed) with a request in flight that the
        server never answered, on a connection reused after an earlier response: a keep-alive
        connection the server had closed meanwhile. Such a request may be sent again."""
        return False


_T = TypeVar("_T", bound=type[Transport])

#: Transport classes by the wire they carry and a scheme they dial; filled by `register_transport`
#: when `rtbench.transports` is imported.
TRANSPORTS: dict[tuple[Wire, str], type[Transport]] = {}


def register_transport(cls: _T) -> _T:
    """Class decorator: make `cls` the transport for its `wire` over each of its `schemes`."""
    taken = [scheme for scheme in cls.schemes if TRANSPORTS.get((cls.wire, scheme), cls) is not cls]
    if not cls.schemes or taken:
        raise ValueError(f"{cls.__qualname__} needs schemes of its own for {cls.wire}, not {cls.schemes!r}")
    for scheme in cls.schemes:
        TRANSPORTS[(cls.wire, scheme)] = cls
    return cls


def transport_for(adapter: type[ProtocolAdapter], url: str) -> type[Transport]:
    """The transport class that carries `adapter`'s wire to `url`; none is a `ConfigError`."""
    scheme = url.partition(":")[0].lower()
    found = TRANSPORTS.get((adapter.wire, scheme))
    if found is not None:
        return found
    schemes = sorted(f"{known}://" for wire, known in TRANSPORTS if wire is adapter.wire)
    raise ConfigError(
        f"protocol {adapter.name!r} ({adapter.wire.name}) has no transport for the target {url!r}; "
        f"its target must be {' or '.join(schemes) or 'nothing registered'}"
    )
