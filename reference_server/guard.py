"""Connection-level defences under aiohttp: the handshake timeout, slow readers, and counting the
requests aiohttp's HTTP parser refuses.

aiohttp has no timeout for a request that arrives byte by byte, and nothing that notices a client
that stopped reading. `ConnectionGuard` is the protocol factory given to `loop.create_server`; it
wraps each connection's aiohttp protocol in a `GuardedProtocol` that

- closes the connection if no complete request head reached a handler within
  `handshake_timeout_s` of the accept (slowloris; counted as `handshake_timeout`; the HTTP
  handlers do the same to a body that is too slow, through `handshake_expired`);
- aborts it if its send buffer stays over the high-water mark for `slow_reader_timeout_s` (a
  client that does not read; counted as `slow_reader`). Until then aiohttp's writers wait, so
  a stuck connection holds at most about two high-water marks (~128 KiB) of frames.

Incoming data goes straight to aiohttp's protocol (the bound method is stored on the wrapper, so
the transport calls it without a detour).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from reference_server.config import LimitConfig
from reference_server.limits import TokenBucket
from reference_server.metrics import ServerMetrics

__all__ = [
    "ConnectionGuard",
    "GuardedProtocol",
    "count_http_refusals",
    "guard_of",
    "mark_arrived",
    "on_response_prepare",
]

#: The logger aiohttp's connections log through (see `count_http_refusals`).
HTTP_LOGGER = "reference_server.http"


class GuardedProtocol(asyncio.Protocol):
    """One connection: aiohttp's protocol plus the handshake and slow-reader timers."""

    __slots__ = ("data_received", "eof_received", "transport", "bucket", "_inner", "_guard", "_handshake", "_stuck")

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self.data_received = inner.data_received  # type: ignore[method-assign]
        self.eof_received = inner.eof_received  # type: ignore[method-assign]
        self.transport: asyncio.Transport | None = None
        #: This connection's rate-limit bucket (HTTP requests without an Authorization header).
        self.bucket: TokenBucket | None = None
        self._inner = inner
        self._guard = guard
        self._handshake: asyncio.TimerHandle | None = None
        self._stuck: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        timeout = self._guard.limits.handshake_timeout_s
        if timeout > 0:
            self._handshake = self._guard.loop.call_later(timeout, self.handshake_expired)
        self._inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._handshake, self._stuck):
            if timer is not None:
                timer.cancel()
        self._handshake = self._stuck = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        timeout = self._guard.limits.slow_reader_timeout_s
        if timeout > 0 and self._stuck is None:
            self._stuck = self._guard.loop.call_later(timeout, self._slow_reader)
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._stuck is not None:
            self._stuck.cancel()
            self._stuck = None
        self._inner.resume_writing()

    def request_arrived(self) -> None:
        """A request head reached a handler: the handshake timeout no longer applies."""
        if self._handshake is not None:
            self._handshake.cancel()
            self._handshake = None

    def handshake_expired(self) -> None:
        """The request did not arrive in time: count it and cut the connection off."""
        self._handshake = None
        if self.transport is not None and not self.transport.is_closing():
            self._guard.metrics.reject("handshake_timeout")
            self.transport.abort()

    def _slow_reader(self) -> None:
        self._stuck = None
        if self.transport is not None and not self.transport.is_closing():
            self._guard.metrics.reject("slow_reader")
            self.transport.abort()


class ConnectionGuard:
    """The protocol factory for `loop.create_server`: wraps each protocol `factory` makes."""

    def __init__(self, factory: Callable[[], asyncio.Protocol], limits: LimitConfig, metrics: ServerMetrics) -> None:
        self.factory = factory
        self.limits = limits
        self.metrics = metrics
        self.loop = asyncio.get_running_loop()

    def __call__(self) -> GuardedProtocol:
        return GuardedProtocol(self.factory(), self)


def guard_of(request: web.BaseRequest) -> GuardedProtocol | None:
    """The guard of the request's connection (None when it is gone, or served without a guard)."""
    transport = request.transport
    protocol = transport.get_protocol() if transport is not None else None
    return protocol if isinstance(protocol, GuardedProtocol) else None


def mark_arrived(request: web.BaseRequest) -> None:
    """A request head reached a handler: stop its connection's handshake timer."""
    guard = guard_of(request)
    if guard is not None:
        guard.request_arrived()


async def on_response_prepare(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """`app.on_response_prepare` signal: any response (404s included) means the request arrived.

    A signal rather than a middleware: with any middleware, aiohttp wraps every handler in a
    coroutine of its own that stays alive as long as a WebSocket does (~0.3 KB per idle session).
    Handlers that may take long before they answer call `mark_arrived` themselves.
    """
    mark_arrived(request)


class _HttpRefusalCounter(logging.Filter):
    """Counts the requests aiohttp's parser answered with 400 and keeps them, and clients that reset
    while their answer was written, out of the log."""

    def __init__(self, metrics: ServerMetrics) -> None:
        super().__init__()
        self.metrics = metrics

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            too_big = isinstance(exc, LineTooLong) or "Too many headers" in str(exc)
            self.metrics.reject("oversize" if too_big else "malformed")
            return False  # one line per bad request would let a client fill the log
        if isinstance(exc, ConnectionError):
            return False  # the client went away while its answer was being written: not a server error
        return record.levelno >= logging.WARNING


def count_http_refusals(metrics: ServerMetrics) -> logging.Logger:
    """The logger to hand aiohttp's connections (`AppRunner(logger=...)`): bad requests are counted
    as `malformed` or `oversize` instead of logged; anything else still logs at WARNING and up."""
    logger = logging.getLogger(HTTP_LOGGER)
    logger.setLevel(logging.DEBUG)  # aiohttp logs a garbage request line at DEBUG
    logger.filters = [_HttpRefusalCounter(metrics)]
    return logger
