"""An in-memory transport for tests, after httpx's `MockTransport`: a handler plays the server.

    def handler(peer: MemoryPeer, message: str) -> None:   # each message the client sends
        peer.send('{"type": "done"}')                         # frames back to the client

    with MemoryServer(handler) as server:
        cls = transport_for(NativeAdapter, server.url("/ws"))      # MemoryTransport
        transport = cls(server.url("/ws"), ConnectOptions(), listener)

`memory://NAME/PATH` URLs reach the `MemoryServer` called NAME while its `with` block runs, so the
transport is chosen like the real ones, by the adapter's wire and the URL's scheme:
`MemoryTransport` carries `Wire.MESSAGES` (persistent, like a WebSocket) and
`MemoryStreamTransport` carries `Wire.HTTP_STREAM` (a carrier of requests, like keep-alive HTTP).

There are no sockets, but the timing model is the real transports': what the server side sends
is queued, and the reader greenlet (the shared `GreenletTransport` one) hands each item to the
listener with a receive time read from the injected clock as it takes the item. So a frame never
arrives inside `send()`, and `MemoryPeer.drain()` waits until everything sent has arrived.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from time import perf_counter
from types import TracebackType
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import gevent.queue

from rtbench.errors import ConfigError
from rtbench.protocols.base import Wire
from rtbench.transports.base import (
    Clock,
    ConnectOptions,
    ConnectTiming,
    ErrorKind,
    TransportError,
    TransportListener,
    register_transport,
)
from rtbench.transports.greenlet import GreenletTransport

__all__ = ["MemoryServer", "MemoryPeer", "MemoryTransport", "MemoryStreamTransport", "Handler", "ConnectHandler"]

log = logging.getLogger(__name__)

#: Called with the server side of a connection and each message the client sends on it.
Handler = Callable[["MemoryPeer", str], None]
#: Called with the server side of each new connection.
ConnectHandler = Callable[["MemoryPeer"], None]

_Item = (
    tuple[Literal["frame"], str | bytes]
    | tuple[Literal["start"], int, str]
    | tuple[Literal["end"]]
    | tuple[Literal["close"], str]
)

#: The servers that `memory://` URLs reach, by name, while they listen.
_SERVERS: dict[str, MemoryServer] = {}
_names = itertools.count(1)


class MemoryServer:
    """The target of `memory://NAME/...` URLs while its `with` block runs."""

    def __init__(self, handler: Handler, on_connect: ConnectHandler | None = None, name: str | None = None) -> None:
        self.handler = handler
        self.on_connect = on_connect
        self.name = name or f"server-{next(_names)}"
        #: The server side of every connection made, in order.
        self.peers: list[MemoryPeer] = []
        #: When set, a connect fails with a `TransportError` of this kind (no peer is made).
        self.refuse: ErrorKind | None = None

    def url(self, path: str = "/") -> str:
        """A URL that reaches this server."""
        return f"memory://{self.name}{path}"

    def __enter__(self) -> MemoryServer:
        if _SERVERS.setdefault(self.name, self) is not self:
            raise ValueError(f"a memory server called {self.name!r} is already listening")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        """Stop listening, and close every connection still open."""
        del _SERVERS[self.name]
        for peer in self.peers:
            peer.close("closed by server: the memory server stopped")

    def _accept(self, url: str) -> MemoryPeer:
        if self.refuse is not None:
            raise TransportError(self.refuse, f"{url} refused the connection ({self.refuse})")
        peer = MemoryPeer(self, url)
        self.peers.append(peer)
        if self.on_connect is not None:
            self.on_connect(peer)
        return peer


class MemoryPeer:
    """The server side of one in-memory connection: what the client sent, and a way to answer."""

    __slots__ = ("server", "url", "received", "close_reason", "_outbox", "_open")

    def __init__(self, server: MemoryServer, url: str) -> None:
        self.server = server
        self.url = url
        #: Every message the client sent, in order.
        self.received: list[str] = []
        #: Why the connection ended ("closed by client", or the reason given to `close`), or None.
        self.close_reason: str | None = None
        self._outbox: gevent.queue.JoinableQueue[_Item] = gevent.queue.JoinableQueue()
        self._open = True

    @property
    def connected(self) -> bool:
        """True until either side closes the connection."""
        return self._open

    def send(self, frame: str | bytes) -> None:
        """A frame (`Wire.MESSAGES`) or piece of response body (`Wire.HTTP_STREAM`) to the client."""
        self._put(("frame", frame))

    def start_response(self, status: int = 200, reason: str = "OK") -> None:
        """The head of a streamed response (`Wire.HTTP_STREAM`)."""
        self._put(("start", status, reason))

    def end_response(self) -> None:
        """The end of a streamed response's body (`Wire.HTTP_STREAM`)."""
        self._put(("end",))

    def close(self, reason: str = "closed by server") -> None:
        """End the connection from the server side; the client hears `reason` after what was sent."""
        if self._open:
            self._put(("close", reason))
            self._open = False
            self.close_reason = reason

    def drain(self, timeout: float | None = 5.0) -> bool:
        """Wait until the client has taken everything sent so far; False on timeout."""
        return bool(self._outbox.join(timeout))

    def _put(self, item: _Item) -> None:
        if self._open:
            self._outbox.put(item)

    def _disconnect(self, reason: str) -> None:
        """The connection is over: nothing more is delivered."""
        self._open = False
        if self.close_reason is None:
            self.close_reason = reason
        outbox = self._outbox
        while not outbox.empty():
            outbox.get_nowait()
            outbox.task_done()


@register_transport
class MemoryTransport(GreenletTransport[MemoryPeer]):
    """A connection to a `MemoryServer`, carrying whole messages like a WebSocket."""

    wire: ClassVar[Wire] = Wire.MESSAGES
    schemes: ClassVar[tuple[str, ...]] = ("memory",)
    persistent: ClassVar[bool] = True

    __slots__ = ("_server_name", "_on_response_start", "_on_response_end")

    def __init__(
        self,
        url: str,
        options: ConnectOptions,
        listener: TransportListener,
        clock: Clock = perf_counter,
    ) -> None:
        """`url` is memory://NAME/PATH; `options` other than the timeout do not apply."""
        super().__init__(url, options, listener, clock)
        parts = urlsplit(url)
        if parts.scheme != "memory" or not parts.hostname:
            raise ConfigError(f"not a memory://NAME URL: {url!r}")
        self._server_name = parts.hostname
        self._on_response_start = listener.on_response_start
        self._on_response_end = listener.on_response_end

    def _open(self) -> tuple[MemoryPeer, ConnectTiming]:
        server = _SERVERS.get(self._server_name)
        start = self._clock()
        if server is None:
            raise TransportError("refused", f"no memory server is listening at {self.url}")
        peer = server._accept(self.url)
        return peer, ConnectTiming(start, self._clock())

    def send(self, message: str) -> None:
        """Hand `message` to the server's handler (in this greenlet; its answers are queued)."""
        peer = self._link
        if peer is None or self._closed or not peer.connected:
            raise TransportError("closed", f"not connected to {self.url}")
        peer.received.append(message)
        peer.server.handler(peer, message)

    def _read_loop(self, peer: MemoryPeer) -> None:
        get, done, clock, on_frame = peer._outbox.get, peer._outbox.task_done, self._clock, self._on_frame
        reason: str | None = None
        while reason is None:
            item = get()
            received_at = clock()
            try:
                if item[0] == "frame":
                    on_frame(item[1], received_at)
                elif item[0] == "start":
                    self._on_response_start(item[1], item[2], received_at)
                elif item[0] == "end":
                    self._on_response_end(received_at)
                else:
                    reason = item[1]
            except Exception as exc:
                log.exception("a listener of %s failed", self.url)
                reason = f"frame handler failed: {exc!r}"
            finally:
                done()  # also when close() kills the reader inside a listener
            if self._closed:
                return
        self._finish(reason)

    def _release(self, peer: MemoryPeer) -> None:
        peer._disconnect("closed by client")


@register_transport
class MemoryStreamTransport(MemoryTransport):
    """A connection to a `MemoryServer` carrying streamed responses, like keep-alive HTTP."""

    wire = Wire.HTTP_STREAM
    persistent = False

    __slots__ = ()
