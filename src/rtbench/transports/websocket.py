"""A WebSocket client connection under gevent, with a reader greenlet.

websocket-client makes the connection (the upgrade) and sends; a reader greenlet of ours receives
continuously, so server pings are answered while a simulated user thinks (websocket-client answers
them only inside its own `recv()`, and a session that is not reading is dropped).

The reader asks for whatever bytes have arrived, one `recv` at a time, takes the receive time on
the injected monotonic clock right after that `recv` returns, and hands every message those bytes
complete to `on_frame` with that time: frames that arrived together share the moment they
arrived, and a frame split over several segments is timed by its last. Frames are parsed by
`ws_frames.FrameReader`. On plain TCP the reader first waits until the socket is readable, so a
`recv` never fails for want of data (that costs an exception per frame in gevent's socket).

permessage-deflate (RFC 7692) is offered when `options.compression` says so; the server's answer
is checked by `deflate.accept` (an answer the offer does not allow fails the connect, as does an
extension answered to no offer). websocket-client itself knows no extension: its frame reader
rejects RSV1 ("rsv is not implemented, yet"), but ours reads, and its `send_frame` writes a frame
with RSV1 set as given, so a negotiated connection sends each message deflated with RSV1 set.
Every frame sent and every byte received is counted in `options.tally`: `ws_wire_bytes_*` as on
the wire (headers and masks included, control frames too), `ws_payload_bytes_*` the data
messages' payloads before deflate and after inflate.

The TCP connection comes from `tcp.connect_within` (DNS, connect, an optional source address
bound with `IP_BIND_ADDRESS_NO_PORT`, one deadline over TLS and the upgrade too): a gevent
socket, so all I/O yields to the hub whether or not the standard library is monkey-patched.
websocket-client's send lock is a gevent semaphore (the reader sends pongs while user greenlets
send prompts).
"""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable
from functools import partial
from time import perf_counter

import gevent
import gevent.lock
from websocket import ABNF, WebSocket, WebSocketBadStatusException, WebSocketException

from rtbench.protocols.base import Wire
from rtbench.transports.base import (
    Clock,
    ConnectOptions,
    ConnectTiming,
    TransportError,
    TransportListener,
    register_transport,
)
from rtbench.transports.deflate import Deflater, Inflater, Negotiated, NegotiationError, accept, offer_header
from rtbench.transports.greenlet import CLOSE_TIMEOUT_S, GreenletTransport
from rtbench.transports.tally import WireTally
from rtbench.transports.tcp import IP_BIND_ADDRESS_NO_PORT, Target, checked_target, connect_within
from rtbench.transports.tls import tls_context, wrap_tls
from rtbench.transports.ws_frames import (
    MAX_MESSAGE_BYTES,
    NORMAL_CLOSURE,
    OPCODE_BINARY,
    OPCODE_CLOSE,
    OPCODE_PING,
    OPCODE_PONG,
    OPCODE_TEXT,
    FrameReader,
    close_reply,
)

__all__ = [
    "WebSocketTransport",
    "TransportError",
    "ConnectTiming",
    "tls_context",
    "IP_BIND_ADDRESS_NO_PORT",
]

log = logging.getLogger(__name__)

#: The most bytes one `recv` asks for.
RECV_BYTES = 65536
_READ = 1  # libev's EV_READ
_DEFAULT_PORTS = {"ws": 80, "wss": 443}
_EXTENSIONS = "sec-websocket-extensions"


def _close_reason(payload: bytes) -> str:
    """Why the server closed, from its (valid) close frame's payload."""
    if len(payload) < 2:
        return "closed by server"
    (code,) = struct.unpack("!H", payload[:2])
    text = payload[2:].decode("utf-8", "replace")
    return f"closed by server with code {code}" + (f": {text}" if text else "")


@register_transport
class WebSocketTransport(GreenletTransport[WebSocket]):
    """One WebSocket connection; frames go to the listener's `on_frame`, its end to `on_close`."""

    wire = Wire.MESSAGES
    schemes = ("ws", "wss")
    persistent = True

    __slots__ = ("_target", "_tally", "negotiated", "_deflater", "_deflating")

    def __init__(
        self,
        url: str,
        options: ConnectOptions,
        listener: TransportListener,
        clock: Clock = perf_counter,
    ) -> None:
        """`options.ssl_context` is for wss:// and must be a `gevent.ssl.SSLContext` (see
        `tls_context`, the default); the standard library's only qualifies once gevent patched it."""
        super().__init__(url, options, listener, clock)
        self._target: Target = checked_target(url, options, _DEFAULT_PORTS, "wss")
        self._tally = options.tally or WireTally()
        #: The permessage-deflate parameters the server accepted (None: no compression).
        self.negotiated: Negotiated | None = None
        self._deflater: Deflater | None = None
        self._deflating: gevent.lock.Semaphore | None = None  # keeps deflate order = send order

    # -- connecting ---------------------------------------------------------------------------

    def _open(self) -> tuple[WebSocket, ConnectTiming]:
        """Connect, upgrade; all within `connect_timeout` seconds."""
        target, options, upgraded = self._target, self.options, []

        def handshake(sock: socket.socket) -> socket.socket:
            if target.secure:
                sock = wrap_tls(sock, options.ssl_context, target.host, self.url)
            try:
                upgraded.append(self._upgrade(sock))
            except gevent.Timeout:  # the deadline: close the TLS socket too, not only the TCP one
                sock.close()
                raise
            return sock

        _, timing = connect_within(target, options.connect_timeout, self._clock, options.source_address, handshake)
        return upgraded[0], timing

    def _upgrade(self, sock: socket.socket) -> WebSocket:
        ws = WebSocket(enable_multithread=False, skip_utf8_validation=True)
        ws.lock = gevent.lock.Semaphore()  # the reader's pongs and the user's sends share it
        offer, headers = self.options.compression, dict(self.options.headers or {})
        if offer is not None:
            headers["Sec-WebSocket-Extensions"] = offer_header(offer)
        try:
            ws.connect(self.url, socket=sock, header=headers)
            answer = (ws.getheaders() or {}).get(_EXTENSIONS)
            if offer is None and answer:
                raise NegotiationError(f"the server answered extensions that were not offered: {answer}")
            negotiated = None if offer is None else accept(offer, answer)
        except WebSocketBadStatusException as exc:
            sock.close()
            raise TransportError("handshake", f"{self.url} answered the upgrade with {exc.status_code}") from None
        except NegotiationError as exc:
            sock.close()
            raise TransportError("handshake", f"{self.url}: {exc}") from None
        except (WebSocketException, OSError, ValueError) as exc:
            sock.close()
            raise TransportError("handshake", f"upgrade to {self.url} failed: {exc}") from None
        ws.handshake_response = None  # the upgrade reply's headers: ~0.6 KB a session, never read again
        if offer is not None:
            self._tally.count("ws_deflate_negotiated" if negotiated is not None else "ws_deflate_declined")
        if negotiated is not None:
            self.negotiated, self._deflater = negotiated, Deflater(negotiated)
            self._deflating = gevent.lock.Semaphore()
        return ws

    # -- the reader greenlet ------------------------------------------------------------------

    def _read_loop(self, ws: WebSocket) -> None:
        sock, hub = ws.sock, gevent.get_hub()
        assert sock is not None  # an upgraded WebSocket has its socket until shutdown()
        readable = None if self._target.secure else hub.loop.io(sock.fileno(), _READ)
        try:
            wait = None if readable is None else partial(hub.wait, readable)
            reason = self._read_frames(ws, sock.recv, wait)
        finally:
            if readable is not None:
                readable.close()
        if reason is not None:
            self._finish(reason)

    def _read_frames(self, ws: WebSocket, recv: Callable[[int], bytes], wait: Callable[[], None] | None) -> str | None:
        """Receive until the connection ends; why it ended, or None if it was closed here.
        (TLS may hold decrypted bytes the socket does not show as readable: `wait` is None.)"""
        negotiated, tally = self.negotiated, self._tally
        inflater = None if negotiated is None else Inflater(negotiated, MAX_MESSAGE_BYTES)
        clock, on_frame, feed = self._clock, self._on_frame, (frames := FrameReader(inflater=inflater)).feed
        while True:
            try:
                if wait is not None:
                    wait()
                data = recv(RECV_BYTES)
            except OSError as exc:  # a reset: the connection is unusable
                return f"connection lost: {exc or type(exc).__name__}"
            received_at = clock()
            if not data:
                return "connection lost: closed without a close frame"
            tally.ws_wire_bytes_in += len(data)
            messages = feed(data)
            if frames.payload_bytes:
                tally.ws_payload_bytes_in += frames.payload_bytes
                frames.payload_bytes = 0
            for opcode, frame in messages:
                if opcode == OPCODE_TEXT or opcode == OPCODE_BINARY:
                    try:
                        on_frame(frame, received_at)
                    except Exception as exc:
                        log.exception("the frame handler of %s failed", self.url)
                        return f"frame handler failed: {exc!r}"
                    if self._closed:
                        return None
                elif opcode == OPCODE_PING:
                    if not self._control(ws, OPCODE_PONG, frame if type(frame) is bytes else b""):
                        return "connection lost: the pong could not be sent"
                elif opcode == OPCODE_CLOSE:
                    payload = frame if type(frame) is bytes else b""
                    self._close_frame(ws, close_reply(payload))  # echo the server's code
                    return _close_reason(payload)
                # a pong: nothing to do
            if frames.error is not None:  # fail the connection with the status code that says why
                tally.count(f"ws_protocol_error_{frames.close_code}")
                self._close_frame(ws, frames.close_code)
                return f"WebSocket protocol error: {frames.error} (closed with {frames.close_code})"

    def _control(self, ws: WebSocket, opcode: int, payload: bytes) -> bool:
        """Send a control frame (counted); False if the connection is gone."""
        try:
            self._tally.ws_wire_bytes_out += ws.send_frame(ABNF(1, 0, 0, 0, opcode, 1, payload))
        except (WebSocketException, OSError):
            return False
        return True

    def _close_frame(self, ws: WebSocket, code: int) -> bool:
        """Send a close frame with status `code`; from then on the WebSocket sends nothing more."""
        ws.connected = False
        return self._control(ws, OPCODE_CLOSE, struct.pack("!H", code))

    def _release(self, ws: WebSocket) -> None:
        ws.shutdown()

    # -- sending and closing ------------------------------------------------------------------

    def send(self, message: str) -> None:
        ws = self._link
        if ws is None or self._closed:
            raise TransportError("closed", f"not connected to {self.url}")
        data, tally, deflater = message.encode(), self._tally, self._deflater
        try:
            if deflater is None:
                tally.ws_wire_bytes_out += ws.send_frame(ABNF(1, 0, 0, 0, OPCODE_TEXT, 1, data))
            else:
                assert self._deflating is not None
                with self._deflating:  # frames leave in the order their deflate context saw them
                    frame = ABNF(1, 1, 0, 0, OPCODE_TEXT, 1, deflater.deflate(data))
                    tally.ws_wire_bytes_out += ws.send_frame(frame)
        except (WebSocketException, OSError) as exc:
            raise TransportError("closed", f"send to {self.url} failed: {exc}") from None
        tally.ws_payload_bytes_out += len(data)

    def _goodbye(self, ws: WebSocket) -> None:
        """Send a close frame (best effort) once the reader has stopped."""
        if ws.sock is not None:
            try:
                ws.sock.settimeout(CLOSE_TIMEOUT_S)
            except OSError:
                return
            self._close_frame(ws, NORMAL_CLOSURE)
