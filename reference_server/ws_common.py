"""What both WebSocket protocols share: the upgrade (or its refusal at `--max-sessions`), byte
counting, the drop fault and the loop that reads JSON messages with the bad-input rules of PROTOCOL.md.

Bytes are counted exactly, both ways, for ground truth (aiohttp has no public hook for any of it):
on the wire, every write of the WebSocket writer after the upgrade (`CountingTransport`: frame
headers and payloads, deflated or not, control frames too) and every chunk the connection hands
its WebSocket parser (`CountingParser`: all the client's frames, masks included, as read); as
payload, each data message the writer is given before it deflates (`count_payloads`) and each data
message received, after aiohttp inflated it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, NamedTuple, Protocol

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web
from aiohttp.http_websocket import WebSocketError

from reference_server.http_errors import refuse_when_full
from reference_server.jsonwire import loads
from reference_server.metrics import ServerMetrics, Tally
from reference_server.state import ServerState

__all__ = [
    "CountingParser",
    "CountingTransport",
    "MessageHandler",
    "Rejected",
    "WebSocketConnection",
    "count_payloads",
    "decode",
    "serve_websocket",
]

#: A message handler: `handler(conn, message, received)`, `received` being the monotonic receipt time.
MessageHandler = Callable[[Any, dict[str, Any], float], Awaitable[None]]

#: Close codes of messages the WebSocket layer rejected, by error code.
_REJECTED: dict[int, str] = {WSCloseCode.MESSAGE_TOO_BIG: "too_large", WSCloseCode.INVALID_TEXT: "bad_utf8"}


class CountingTransport:
    """Wraps the transport under aiohttp's WebSocket writer to count the bytes it writes."""

    __slots__ = ("_transport", "_tally")

    def __init__(self, transport: asyncio.Transport, tally: Tally) -> None:
        self._transport = transport
        self._tally = tally

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._tally.bytes += len(data)
        self._transport.write(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CountingParser:
    """Wraps the WebSocket parser of a connection to count the bytes it is fed (the wire, in)."""

    __slots__ = ("_parser", "_tally")

    def __init__(self, parser: Any, tally: Tally) -> None:
        self._parser = parser
        self._tally = tally

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        self._tally.bytes_in += len(data)
        return self._parser.feed_data(data)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._parser, name)


def count_payloads(writer: Any, tally: Tally) -> None:
    """Count the payload of every data message `writer` sends, before it deflates it."""
    send_frame = writer.send_frame

    def counted(message: bytes, opcode: int, compress: int | None = None) -> Awaitable[None]:
        if opcode < 8:  # data frames; control frames (close, ping, pong) are not payload
            tally.payload_out += len(message)
        return send_frame(message, opcode, compress)  # type: ignore[no-any-return]  # its coroutine, no frame of ours

    writer.send_frame = counted


class WebSocketConnection(Protocol):
    """What a WebSocket protocol implements; `serve_websocket` drives it."""

    #: Message handlers by `type`.
    handlers: ClassVar[Mapping[str, MessageHandler]]
    #: The connection's transport, which a drop aborts (None if aiohttp had none).
    transport: asyncio.BaseTransport | None

    async def start(self, ws: web.WebSocketResponse) -> None:
        """The connection is open: greet the client."""

    async def error(self, code: str, message: str, event: dict[str, Any] | None = None) -> None:
        """Count an error and send the protocol's error frame."""

    async def shutdown_notice(self, ws: web.WebSocketResponse) -> None:
        """Send the protocol's `shutting_down` error (the 1001 close follows)."""

    def finish(self) -> None:
        """The connection has ended."""


class Rejected(NamedTuple):
    """A client message that gets an error; with `close_code`, the connection closes after it."""

    code: str
    message: str
    close_code: int | None = None


async def serve_websocket(
    request: web.Request, state: ServerState, protocol: str, conn: WebSocketConnection
) -> web.StreamResponse:
    """Upgrade `request` and feed `conn` the client's JSON messages until the connection ends.

    Refuses with 503 before the upgrade when `--max-sessions` are open. Counts the session and its
    bytes and arms the drop fault. (One flat coroutine on purpose: every coroutine frame alive
    during an idle session costs its memory 10,000 times over.)
    """
    full = refuse_when_full(state)
    if full is not None:
        return full
    cfg, metrics = state.config, state.metrics
    ws = web.WebSocketResponse(
        compress=cfg.deflate,
        heartbeat=cfg.heartbeat_s or None,
        max_msg_size=cfg.max_message_bytes + 1,  # aiohttp rejects sizes >= max_msg_size
        decode_text=False,
        timeout=2.0,
    )
    try:
        await ws.prepare(request)
    except web.HTTPException:
        state.gate.leave()
        metrics.reject("malformed")  # not a valid upgrade request
        raise
    except BaseException:
        state.gate.leave()
        raise
    tally, http = metrics.tallies[protocol], request.protocol
    writer = ws._writer  # private access: there is no public hook to count bytes (module docstring)
    if writer is not None:
        writer.transport = CountingTransport(writer.transport, tally)  # type: ignore[assignment]
        count_payloads(writer, tally)
    if http is not None and http._payload_parser is not None:
        http._payload_parser = CountingParser(http._payload_parser, tally)
    metrics.sessions_total.labels(protocol).inc()
    metrics.sessions_open.labels(protocol).inc()
    state.sockets[ws] = conn
    drop = state.faults.arm_drop(request.transport, lambda: metrics.faults.labels("drop").inc())
    try:
        await conn.start(ws)
        while True:
            raw = await ws.receive()
            received = time.monotonic()
            if raw.type is WSMsgType.TEXT or raw.type is WSMsgType.BINARY:
                tally.payload_in += len(raw.data)
            message = decode(raw, metrics)
            if type(message) is dict:
                kind = message.get("type")
                handler = conn.handlers.get(kind) if type(kind) is str else None
                if handler is None:
                    why = f"unknown message type {kind!r}"[:200] if type(kind) is str else "'type' must be a string"
                    await conn.error("unknown_type", why, message)
                else:
                    await handler(conn, message, received)
            elif message is None:
                break
            else:
                assert isinstance(message, Rejected)
                await conn.error(message.code, message.message)
                if message.close_code is not None:
                    await ws.close(code=message.close_code, message=message.code.encode())
                    break
    finally:
        conn.finish()
        if drop is not None:
            drop.cancel()
        state.sockets.pop(ws, None)
        state.gate.leave()
        metrics.sessions_open.labels(protocol).dec()
        if not ws.closed:
            await ws.close()
    return ws


def decode(msg: WSMessage, metrics: ServerMetrics) -> dict[str, Any] | Rejected | None:
    """A received WebSocket message as a JSON object, a Rejected, or None when the connection ended.

    Binary frames and invalid JSON (NaN, Infinity and numbers that overflow a double included) are
    rejected; invalid UTF-8 is rejected with a 1007 close; a message over the size limit was already
    closed with 1009 by the WebSocket layer, and a client that missed the heartbeat's pong with 1006
    (both counted here).
    """
    kind = msg.type
    if kind is WSMsgType.TEXT:
        data = msg.data
        try:
            text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        except UnicodeDecodeError:
            return Rejected("bad_utf8", "text frame is not valid UTF-8", WSCloseCode.INVALID_TEXT)
        try:
            obj = loads(text)
        except (ValueError, RecursionError) as exc:
            return Rejected("bad_json", f"invalid JSON: {exc}"[:200])
        if not isinstance(obj, dict):
            return Rejected("bad_json", f"expected a JSON object, got a JSON {type(obj).__name__}")
        return obj
    if kind is WSMsgType.BINARY:
        return Rejected("binary_unsupported", "binary frames are not supported; send JSON text frames")
    if kind is WSMsgType.ERROR:
        error = msg.data
        if isinstance(error, asyncio.TimeoutError):
            metrics.reject("pong_timeout")
        elif isinstance(error, WebSocketError):
            metrics.error(_REJECTED.get(error.code, "protocol_error"))
        else:
            metrics.error("connection_lost")
    return None  # CLOSE, CLOSING, CLOSED, ERROR
