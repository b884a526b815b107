"""The connection guard on a real event loop and real loopback sockets: handshake timeout, slow
readers, pass-through to the wrapped protocol; and the counting of aiohttp's refused requests."""

from __future__ import annotations

import asyncio
import logging
import socket

from aiohttp.http_exceptions import BadHttpMessage, LineTooLong

from reference_server.config import LimitConfig
from reference_server.guard import ConnectionGuard, GuardedProtocol, count_http_refusals
from reference_server.metrics import ServerMetrics


class Recorder(asyncio.Protocol):
    """Stands in for aiohttp's protocol: records what the guard passes on."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.data = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> bool:
        self.events.append("eof")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.events.append("lost")

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")


def rejected(metrics: ServerMetrics, reason: str) -> float:
    return metrics.rejected.labels(reason)._value.get()


async def serve(
    limits: LimitConfig, metrics: ServerMetrics
) -> tuple[asyncio.Server, list[Recorder], list[GuardedProtocol]]:
    inner: list[Recorder] = []
    guards: list[GuardedProtocol] = []

    def make() -> Recorder:
        inner.append(Recorder())
        return inner[-1]

    guard = ConnectionGuard(make, limits, metrics)

    def factory() -> GuardedProtocol:
        guards.append(guard())
        return guards[-1]

    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    return server, inner, guards


def test_silent_connections_are_cut_off_after_the_handshake_timeout_and_counted() -> None:
    async def scenario() -> tuple[float, float, bool, list[str], bytes]:
        metrics = ServerMetrics()
        server, inner, guards = await serve(LimitConfig(handshake_timeout_s=0.2), metrics)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HT")
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(reader.read(), 2) == b""
        closed_after = loop.time() - started
        _, arrived_writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        guards[-1].request_arrived()  # what the app does once a request head is complete
        await asyncio.sleep(0.3)
        still_open = not guards[-1].transport.is_closing()
        writer.close()
        arrived_writer.close()
        server.close()
        return closed_after, rejected(metrics, "handshake_timeout"), still_open, inner[0].events, inner[0].data

    closed_after, count, arrived_stayed_open, events, data = asyncio.run(scenario())
    assert 0.19 <= closed_after < 0.5 and count == 1
    assert arrived_stayed_open
    assert events == ["made", "lost"] and data == b"GET / HT"


def test_a_client_that_stops_reading_is_aborted_after_the_slow_reader_timeout() -> None:
    async def scenario() -> tuple[list[str], float, float]:
        metrics = ServerMetrics()
        server, inner, guards = await serve(LimitConfig(slow_reader_timeout_s=0.3, handshake_timeout_s=0), metrics)
        port = server.sockets[0].getsockname()[1]
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        await asyncio.sleep(0.05)
        transport = inner[0].transport
        assert transport is not None
        transport.set_write_buffer_limits(high=64 * 1024)
        loop = asyncio.get_running_loop()
        while "pause" not in inner[0].events:  # write until the buffers are full
            transport.write(b"x" * 65536)
            await asyncio.sleep(0)
        paused_at = loop.time()
        while not transport.is_closing():
            await asyncio.sleep(0.01)
        aborted_after = loop.time() - paused_at
        await asyncio.sleep(0.01)
        sock.close()
        server.close()
        return inner[0].events, aborted_after, rejected(metrics, "slow_reader")

    events, aborted_after, count = asyncio.run(scenario())
    assert events == ["made", "pause", "lost"]
    assert 0.29 <= aborted_after < 0.6 and count == 1


def test_a_reader_that_catches_up_is_left_alone() -> None:
    async def scenario() -> tuple[list[str], float]:
        metrics = ServerMetrics()
        server, inner, guards = await serve(LimitConfig(slow_reader_timeout_s=0.2, handshake_timeout_s=0), metrics)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        guards[0].pause_writing()
        await asyncio.sleep(0.1)
        guards[0].resume_writing()
        await asyncio.sleep(0.3)
        writer.write(b"hello")
        writer.write_eof()
        await asyncio.sleep(0.05)
        writer.close()
        server.close()
        return inner[0].events, rejected(metrics, "slow_reader")

    events, count = asyncio.run(scenario())
    assert events[:4] == ["made", "pause", "resume", "eof"] and count == 0


def record(exc: BaseException | None, level: int = logging.ERROR) -> logging.LogRecord:
    info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("reference_server.http", level, __file__, 1, "Error handling request", (), info)


def test_http_refusals_are_counted_not_logged() -> None:
    metrics = ServerMetrics()
    logger = count_http_refusals(metrics)
    passes = [
        f.filter(r)
        for f in logger.filters
        for r in (
            record(BadHttpMessage("Invalid header")),
            record(LineTooLong(b"x" * 10, "8190")),
            record(BadHttpMessage("Too many headers received")),
            record(RuntimeError("a bug")),
            record(None, logging.DEBUG),
            record(ConnectionResetError("Cannot write to closing transport")),
        )
    ]
    assert passes == [False, False, False, True, False, False]
    assert rejected(metrics, "malformed") == 1 and rejected(metrics, "oversize") == 2
