"""Streaming HTTP/1.1 (SSE) under gevent: one keep-alive connection, h11 over a gevent socket.

`send(body)` POSTs a JSON body; a reader greenlet, alive for the whole connection, hands the
response to the listener as it arrives: `on_response_start(status, reason, t)` at the status
line, `on_frame(chunk, t)` for every piece of de-chunked body, `on_response_end(t)` when the body
ends by its framing. Each `t` is taken on the injected clock right after the `recv` that brought
the bytes returns, so a content chunk is timed when it arrives, not when some buffer fills.
When the connection ends (the server closed it, idle or mid-response, or answered with
`Connection: close`; a reset; a protocol violation; `close()`), `on_close(reason)` is called
once, and `send` raises `TransportError("closed")` from then on.

Why h11 rather than geventhttpclient (Locust's FastHttpUser stack): geventhttpclient's streaming
read returns only once its 4 KB block is full or the body ends, so against the reference server
(50 ms TTFT, 10 ms ITL, 20 tokens) its first chunk came 241 ms after the send instead of 51 ms.
h11 is sans-I/O: the recv loop is ours and every chunk keeps its receive time. It costs about
6.4 µs of CPU per chunk (the C parser of geventhttpclient, 0.9 µs) and holds about 0.9 KB per
idle connection (1.4 KB).

Each connection opened and each request sent is counted in `options.tally`
(`http_connections_opened`, `http_requests`): requests per connection is how well keep-alive
connections are reused.
"""

from __future__ import annotations

import logging
import socket
from time import perf_counter

import h11

from rtbench.protocols.base import Wire
from rtbench.transports.base import (
    Clock,
    ConnectOptions,
    ConnectTiming,
    TransportError,
    TransportListener,
    register_transport,
)
from rtbench.transports.greenlet import GreenletTransport
from rtbench.transports.tally import WireTally
from rtbench.transports.tcp import Target, checked_target, connect_within
from rtbench.transports.tls import wrap_tls

__all__ = ["HttpSseTransport"]

log = logging.getLogger(__name__)

#: The most bytes one `recv` asks for.
RECV_BYTES = 65536
_DEFAULT_PORTS = {"http": 80, "https": 443}


@register_transport
class HttpSseTransport(GreenletTransport[socket.socket]):
    """One keep-alive HTTP/1.1 connection carrying one streamed POST response at a time."""

    wire = Wire.HTTP_STREAM
    schemes = ("http", "https")
    persistent = False  # a connection only carries requests: its end between turns is churn

    __slots__ = (
        "_target",
        "_request_headers",
        "_on_response_start",
        "_on_response_end",
        "_conn",
        "_in_flight",
        "_answered",
        "_responses",
        "_tally",
    )

    def __init__(
        self,
        url: str,
        options: ConnectOptions,
        listener: TransportListener,
        clock: Clock = perf_counter,
    ) -> None:
        """`url` is http:// or https:// with the path to POST to; `options.ssl_context` (for
        https) must be a `gevent.ssl.SSLContext` (see `tls.tls_context`, the default)."""
        super().__init__(url, options, listener, clock)
        self._target: Target = checked_target(url, options, _DEFAULT_PORTS, "https")
        defaults = {"host": self._target.authority, "content-type": "application/json", "accept": "text/event-stream"}
        given = {name.lower(): (name, value) for name, value in (options.headers or {}).items()}
        self._request_headers = [given.pop(key, (key.title(), value)) for key, value in defaults.items()]
        self._request_headers += list(given.values())
        self._on_response_start = listener.on_response_start
        self._on_response_end = listener.on_response_end
        self._conn = h11.Connection(h11.CLIENT)
        self._in_flight = False
        self._answered = False  # the response to the request in flight has begun
        self._responses = 0  # responses that ended on this connection
        self._tally = options.tally or WireTally()

    @property
    def busy(self) -> bool:
        """True from `send` until the response has ended."""
        return self._in_flight and not self._closed

    @property
    def resendable(self) -> bool:
        """A request in flight with no byte of its answer, on a connection that had already
        carried a response: the server closed the keep-alive connection before reading it."""
        return self._in_flight and not self._answered and self._responses > 0

    # -- connecting ---------------------------------------------------------------------------

    def _open(self) -> tuple[socket.socket, ConnectTiming]:
        """Open TCP (and TLS for https) within `connect_timeout`. The timing runs from the start
        of the TCP connect to the connection being ready for a request."""
        target, options = self._target, self.options
        handshake = (lambda sock: wrap_tls(sock, options.ssl_context, target.host, self.url)) if target.secure else None
        opened = connect_within(target, options.connect_timeout, self._clock, options.source_address, handshake)
        self._tally.http_connections_opened += 1
        return opened

    # -- sending ------------------------------------------------------------------------------

    def send(self, message: str) -> None:
        """POST `message` (a JSON body) to the URL's path; the response comes to the callbacks."""
        sock, conn = self._link, self._conn
        if sock is None or self._closed:
            raise TransportError("closed", f"not connected to {self.url}")
        if self._in_flight:
            raise TransportError("closed", f"a response from {self.url} is still in flight")
        body = message.encode()
        try:
            request = conn.send(
                h11.Request(
                    method="POST",
                    target=self._target.path,
                    headers=[*self._request_headers, ("Content-Length", str(len(body)))],
                )
            )
            data = request + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise TransportError("closed", f"cannot send to {self.url}: {exc}") from None
        self._in_flight, self._answered = True, False
        try:
            sock.sendall(data)
        except OSError as exc:
            raise TransportError("closed", f"send to {self.url} failed: {exc}") from None
        self._tally.http_requests += 1

    # -- the reader greenlet ------------------------------------------------------------------

    def _read_loop(self, sock: socket.socket) -> None:
        recv, clock, conn = sock.recv, self._clock, self._conn
        reason: str | None = None
        while reason is None:
            try:
                data = recv(RECV_BYTES)
            except OSError as exc:
                reason = f"connection lost: {exc or type(exc).__name__}"
                break
            received_at = clock()
            conn.receive_data(data)
            try:
                reason = self._dispatch(received_at)
            except h11.RemoteProtocolError as exc:
                reason = f"closed by server: {exc}" if not data else f"HTTP protocol error: {exc}"
            except Exception as exc:
                log.exception("a response handler of %s failed", self.url)
                reason = f"response handler failed: {exc!r}"
            if self._closed:
                return
            if not data and reason is None:
                reason = "closed by server"
        self._finish(reason)

    def _dispatch(self, received_at: float) -> str | None:
        """Hand the parsed events on; the reason the connection ends, or None while it goes on."""
        conn = self._conn
        while True:
            event = conn.next_event()
            kind = type(event)
            if kind is h11.Data:
                self._on_frame(bytes(event.data), received_at)  # type: ignore[union-attr]
            elif event is h11.NEED_DATA:
                return None
            elif kind is h11.Response:
                if not self._in_flight:
                    return "HTTP protocol error: a response to no request"
                self._answered = True
                self._on_response_start(event.status_code, event.reason.decode("latin-1"), received_at)  # type: ignore[union-attr]
            elif kind is h11.EndOfMessage:
                self._in_flight = False
                self._responses += 1
                self._on_response_end(received_at)
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return "closed by server after the response (Connection: close)"
                conn.start_next_cycle()
            elif kind is h11.ConnectionClosed:
                return "closed by server"
            elif event is h11.PAUSED:
                return "HTTP protocol error: a response before the request was sent"
            # InformationalResponse (1xx): nothing to report

    def _release(self, sock: socket.socket) -> None:
        sock.close()
