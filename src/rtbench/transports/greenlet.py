"""The part every gevent transport shares: the constructor, connecting once, the reader greenlet,
and ending the connection exactly once.

A subclass says how to open its link (a socket, a WebSocket, an in-memory pipe) in `_open`, how to
read it in `_read_loop` (which runs in the reader greenlet and ends with `_finish(reason)` unless
the connection was closed from this side), and how to release the link in `_release`. The
listener's callbacks are bound once, at construction, so the reader calls them directly: no extra
call per frame.
"""

from __future__ import annotations

from abc import abstractmethod
from time import perf_counter
from typing import Generic, TypeVar

import gevent

from rtbench.transports.base import Clock, ConnectOptions, ConnectTiming, Transport, TransportListener

__all__ = ["GreenletTransport", "CLOSE_TIMEOUT_S"]

#: How long `close()` may wait for the reader to stop.
CLOSE_TIMEOUT_S = 1.0

LinkT = TypeVar("LinkT")


class GreenletTransport(Transport, Generic[LinkT]):
    """A transport whose incoming side is one reader greenlet per connection."""

    __slots__ = ("url", "options", "_on_frame", "_on_close", "_clock", "_link", "_reader", "_closed")

    def __init__(
        self,
        url: str,
        options: ConnectOptions,
        listener: TransportListener,
        clock: Clock = perf_counter,
    ) -> None:
        self.url = url
        self.options = options
        self._on_frame = listener.on_frame
        self._on_close = listener.on_close
        self._clock = clock
        self._link: LinkT | None = None
        self._reader: gevent.Greenlet | None = None
        self._closed = False

    @property
    def connected(self) -> bool:
        return self._link is not None and not self._closed

    def connect(self) -> ConnectTiming:
        """Open the link (see `_open`) and start the reader; a transport connects once."""
        if self._link is not None or self._closed:
            raise RuntimeError(f"a {type(self).__name__} connects once")
        link, timing = self._open()
        self._link = link
        self._reader = gevent.spawn(self._read_loop, link)
        return timing

    def close(self) -> None:
        """Stop the reader, say goodbye (best effort) and release the link."""
        link, reader = self._link, self._reader
        if self._closed or link is None:
            self._closed = True
            return
        if reader is not None and reader is not gevent.getcurrent():
            reader.kill(block=True, timeout=CLOSE_TIMEOUT_S)
        self._goodbye(link)
        self._finish("closed by client")

    def _finish(self, reason: str) -> None:
        """End the connection once; `on_close` hears about it exactly once."""
        if self._closed:
            return
        self._closed = True
        link, self._link, self._reader = self._link, None, None
        if link is not None:
            self._release(link)
        self._on_close(reason)

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def _open(self) -> tuple[LinkT, ConnectTiming]:
        """Connect within `options.connect_timeout`; raise `TransportError` on failure."""

    @abstractmethod
    def _read_loop(self, link: LinkT) -> None:
        """The reader greenlet: deliver what arrives until the connection ends, then call
        `_finish(reason)`, unless `close()` ended it (then `_closed` is already set)."""

    @abstractmethod
    def _release(self, link: LinkT) -> None:
        """Close the link's socket (or whatever it holds); called once, by `_finish`."""

    def _goodbye(self, link: LinkT) -> None:
        """A farewell sent by `close()` before the link is released (a close frame): none here."""
