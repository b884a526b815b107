"""The transport contract: one constructor for every transport, capability flags, selection by
capability, the listener protocol."""

from __future__ import annotations

import dataclasses
import inspect
from typing import ClassVar

import pytest

import rtbench.transports  # noqa: F401  (registers the built-in transports)
from rtbench.errors import ConfigError
from rtbench.protocols.base import ProtocolAdapter, Wire
from rtbench.protocols.events import Event
from rtbench.transports.base import (
    TRANSPORTS,
    CallbackListener,
    ConnectOptions,
    ConnectTiming,
    Transport,
    TransportListener,
    register_transport,
    transport_for,
)
from rtbench.transports.http_sse import HttpSseTransport
from rtbench.transports.memory import MemoryStreamTransport, MemoryTransport
from rtbench.transports.websocket import WebSocketTransport


class _Pigeon(ProtocolAdapter):
    """An adapter of a wire nothing carries... once the registry forgets its transport."""

    name = "pigeon"
    wire: ClassVar[Wire] = Wire.HTTP_STREAM

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        return [text]

    def receive(self, frame: str | bytes) -> list[Event]:
        return []


def test_every_registered_transport_has_the_one_constructor_and_its_flags() -> None:
    expected = inspect.signature(Transport.__init__)
    classes = set(TRANSPORTS.values())
    assert classes == {WebSocketTransport, HttpSseTransport, MemoryTransport, MemoryStreamTransport}
    for cls in classes:
        assert inspect.signature(cls.__init__) == expected, cls
        assert isinstance(cls.wire, Wire) and isinstance(cls.persistent, bool) and cls.schemes, cls
        assert not inspect.isabstract(cls), cls
        assert not hasattr(cls, "name"), cls  # chosen by what it carries, not by a name


def test_the_base_class_is_abstract() -> None:
    with pytest.raises(TypeError):
        Transport("ws://x/", ConnectOptions(), CallbackListener(print, print))  # type: ignore[abstract]


def test_transport_for_picks_by_the_adapters_wire_and_the_urls_scheme() -> None:
    assert transport_for(_Pigeon, "HTTPS://example.com/") is HttpSseTransport
    assert transport_for(_Pigeon, "memory://x/") is MemoryStreamTransport
    with pytest.raises(ConfigError) as excinfo:
        transport_for(_Pigeon, "ws://example.com/")
    assert str(excinfo.value) == (
        "protocol 'pigeon' (HTTP_STREAM) has no transport for the target 'ws://example.com/'; "
        "its target must be http:// or https:// or memory://"
    )
    with pytest.raises(ConfigError, match="no transport for the target 'example.com'"):
        transport_for(_Pigeon, "example.com")


def test_register_transport_refuses_a_scheme_taken_for_the_same_wire() -> None:
    class Rival(MemoryTransport):
        schemes = ("ws", "other")

    class Schemeless(MemoryTransport):
        schemes = ()

    with pytest.raises(ValueError, match="schemes of its own"):
        register_transport(Rival)
    with pytest.raises(ValueError, match="schemes of its own"):
        register_transport(Schemeless)
    assert (Wire.MESSAGES, "other") not in TRANSPORTS  # nothing half-registered
    assert register_transport(WebSocketTransport) is WebSocketTransport  # idempotent


def test_a_new_transport_is_selected_once_registered() -> None:
    class Carrier(MemoryStreamTransport):
        schemes = ("pigeon",)

    try:
        register_transport(Carrier)
        assert transport_for(_Pigeon, "pigeon://loft/") is Carrier
    finally:
        TRANSPORTS.pop((Wire.HTTP_STREAM, "pigeon"), None)
    with pytest.raises(ConfigError):
        transport_for(_Pigeon, "pigeon://loft/")


def test_callback_listener_is_a_listener_whose_response_callbacks_default_to_nothing() -> None:
    frames: list[tuple[str | bytes, float]] = []
    listener: TransportListener = CallbackListener(lambda frame, at: frames.append((frame, at)), print)
    listener.on_frame("x", 1.0)
    listener.on_response_start(200, "OK", 2.0)
    listener.on_response_end(3.0)
    assert frames == [("x", 1.0)]


def test_options_and_timings_are_frozen_values() -> None:
    options = ConnectOptions()
    assert options == ConnectOptions(10.0, None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.connect_timeout = 1.0  # type: ignore[misc]
    timing = ConnectTiming(1.0, 2.5)
    assert (timing.start, timing.end) == (1.0, 2.5) and not hasattr(timing, "seconds")
