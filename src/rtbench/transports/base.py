"""The transport interface, its errors and timing record, and selection of a transport by name.

A transport owns one connection. `connect()` opens it and says how long that took; afterwards a
reader greenlet hands every incoming frame (or byte chunk) to `on_frame(frame, receive_time)` and,
when the connection ends for any reason, calls `on_close(reason)` exactly once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from rtbench.errors import ConfigError

__all__ = [
    "TransportError",
    "ErrorKind",
    "ConnectTiming",
    "FrameHandler",
    "CloseHandler",
    "Transport",
    "TRANSPORTS",
    "register_transport",
    "transport_class",
]

#: What went wrong: DNS lookup, TCP connect refused or unreachable, no connection within the
#: timeout, an upgrade/TLS handshake that failed, or a connection that is (now) closed.
ErrorKind = Literal["dns", "refused", "timeout", "handshake", "closed"]

#: Called with each incoming frame and the monotonic time it was received.
FrameHandler = Callable[[str | bytes, float], None]
#: Called once with a human-readable reason when the connection ends.
CloseHandler = Callable[[str], None]


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

    @property
    def seconds(self) -> float:
        """The connect duration."""
        return self.end - self.start


class Transport(ABC):
    """One connection to the target, driven from greenlets."""

    __slots__ = ()

    #: The name used to select the transport.
    name: str = ""

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


_T = TypeVar("_T", bound=type[Transport])

#: Transport classes by name; filled by `register_transport` when `rtbench.transports` is imported.
TRANSPORTS: dict[str, type[Transport]] = {}


def register_transport(cls: _T) -> _T:
    """Class decorator: make `cls` selectable by its `name`."""
    if not cls.name or TRANSPORTS.get(cls.name, cls) is not cls:
        raise ValueError(f"{cls.__qualname__} needs a name of its own, not {cls.name!r}")
    TRANSPORTS[cls.name] = cls
    return cls


def transport_class(name: str) -> type[Transport]:
    """The transport class called `name`; an unknown name is a `ConfigError`."""
    try:
        return TRANSPORTS[name]
    except KeyError:
        known = ", ".join(sorted(TRANSPORTS)) or "none"
        raise ConfigError(f"unknown transport {name!r}; known transports: {known}") from None
