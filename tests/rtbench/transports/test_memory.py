"""The in-memory transport: what a handler sees and sends, the listener's view of it, and the
exactly-once end that it shares with the real transports (`GreenletTransport`). No sockets."""

from __future__ import annotations

import itertools
from typing import Any

import gevent
import gevent.event
import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import Wire
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import OpenAIChatAdapter
from rtbench.transports.base import TRANSPORTS, CallbackListener, ConnectOptions, TransportError, transport_for
from rtbench.transports.memory import MemoryPeer, MemoryServer, MemoryStreamTransport, MemoryTransport

WAIT_S = 2.0


class Listener:
    """A `TransportListener` that keeps everything it hears, with its receive time."""

    def __init__(self) -> None:
        self.heard: list[tuple[Any, float]] = []
        self.closes: list[str] = []
        self.closed = gevent.event.Event()

    def on_frame(self, frame: str | bytes, received_at: float) -> None:
        self.heard.append((frame, received_at))

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self.closed.set()

    def on_response_start(self, status: int, reason: str, received_at: float) -> None:
        self.heard.append((("start", status, reason), received_at))

    def on_response_end(self, received_at: float) -> None:
        self.heard.append(("end", received_at))


def echo(peer: MemoryPeer, message: str) -> None:
    peer.send(f"echo {message}")


def ticking() -> Any:
    ticks = itertools.count(100)
    return lambda: float(next(ticks))


def test_memory_urls_select_the_memory_transports_by_wire() -> None:
    assert TRANSPORTS[(Wire.MESSAGES, "memory")] is MemoryTransport and MemoryTransport.persistent
    assert TRANSPORTS[(Wire.HTTP_STREAM, "memory")] is MemoryStreamTransport
    assert not MemoryStreamTransport.persistent
    assert transport_for(NativeAdapter, "memory://anything/ws") is MemoryTransport
    assert transport_for(OpenAIChatAdapter, "memory://anything/v1/chat/completions") is MemoryStreamTransport


def test_the_handler_answers_after_send_returns_on_the_reader_greenlet() -> None:
    listener = Listener()
    with MemoryServer(echo) as server:
        transport = MemoryTransport(server.url("/ws"), ConnectOptions(), listener, ticking())
        assert transport.connect().start == 100.0 and transport.connected
        transport.send("one")
        assert listener.heard == []  # not inside send(): frames come from the reader
        transport.send("two")
        (peer,) = server.peers
        assert peer.drain(WAIT_S)
        assert listener.heard == [("echo one", 102.0), ("echo two", 103.0)]
        assert peer.received == ["one", "two"] and peer.url == "memory://" + server.name + "/ws"
        transport.close()
        assert listener.closes == ["closed by client"] and peer.close_reason == "closed by client"
        assert not peer.connected and not transport.connected


def test_a_server_close_arrives_after_what_was_sent_before_it_and_only_once() -> None:
    listener = Listener()
    with MemoryServer(echo) as server:
        transport = MemoryTransport(server.url(), ConnectOptions(), listener)
        transport.connect()
        peer = server.peers[0]
        peer.send(b"\x00binary")
        peer.close("closed by server with code 4000: bye")
        peer.send("after the close")  # dropped
        assert listener.closed.wait(WAIT_S)
        assert [frame for frame, _ in listener.heard] == [b"\x00binary"]
        assert listener.closes == ["closed by server with code 4000: bye"]
        with pytest.raises(TransportError) as excinfo:
            transport.send("late")
        assert excinfo.value.kind == "closed"
        transport.close()
        transport.close()
        assert len(listener.closes) == 1


def test_close_is_idempotent_and_stops_the_reader() -> None:
    listener = Listener()
    with MemoryServer(echo) as server:
        transport = MemoryTransport(server.url(), ConnectOptions(), listener)
        transport.connect()
        reader = transport._reader
        assert reader is not None and not reader.dead
        transport.close()
        transport.close()
        assert reader.dead and listener.closes == ["closed by client"]
        with pytest.raises(RuntimeError, match="connects once"):
            transport.connect()


def test_close_from_the_listener_stops_delivery() -> None:
    holder: list[MemoryTransport] = []
    frames: list[str | bytes] = []
    closes: list[str] = []

    def close_on_first(frame: str | bytes, received_at: float) -> None:
        frames.append(frame)
        holder[0].close()

    def burst(peer: MemoryPeer, message: str) -> None:
        for i in range(10):
            peer.send(str(i))

    with MemoryServer(burst) as server:
        transport = MemoryTransport(server.url(), ConnectOptions(), CallbackListener(close_on_first, closes.append))
        holder.append(transport)
        transport.connect()
        transport.send("go")
        assert server.peers[0].drain(WAIT_S)  # what was never delivered is dropped, not pending
    assert frames == ["0"] and closes == ["closed by client"]


def test_a_failing_listener_ends_the_connection() -> None:
    closes: list[str] = []

    def broken(frame: str | bytes, received_at: float) -> None:
        raise ZeroDivisionError("oops")

    with MemoryServer(echo) as server:
        transport = MemoryTransport(server.url(), ConnectOptions(), CallbackListener(broken, closes.append))
        transport.connect()
        transport.send("x")
        assert server.peers[0].drain(WAIT_S)
        gevent.sleep(0)
    assert closes == ["frame handler failed: ZeroDivisionError('oops')"] and not transport.connected


def test_connect_failures_and_bad_urls() -> None:
    listener = Listener()
    with pytest.raises(TransportError) as excinfo:
        MemoryTransport("memory://nobody/ws", ConnectOptions(), listener).connect()
    assert excinfo.value.kind == "refused"
    with MemoryServer(echo) as server:
        server.refuse = "timeout"
        with pytest.raises(TransportError) as excinfo:
            MemoryTransport(server.url(), ConnectOptions(), listener).connect()
        assert excinfo.value.kind == "timeout" and server.peers == []
    for url in ("ws://127.0.0.1/ws", "memory:///ws"):
        with pytest.raises(ConfigError, match="memory://NAME"):
            MemoryTransport(url, ConnectOptions(), listener)
    with pytest.raises(TransportError, match="not connected"):
        MemoryTransport("memory://nobody/", ConnectOptions(), listener).send("x")


def test_a_stopping_server_closes_its_connections_and_stops_listening() -> None:
    listener = Listener()
    with MemoryServer(echo, name="stopping") as server:
        transport = MemoryTransport(server.url(), ConnectOptions(), listener)
        transport.connect()
        with pytest.raises(ValueError, match="already listening"), MemoryServer(echo, name="stopping"):
            pass
    assert listener.closed.wait(WAIT_S)
    assert listener.closes == ["closed by server: the memory server stopped"]
    with pytest.raises(TransportError, match="no memory server"):
        MemoryTransport(server.url(), ConnectOptions(), Listener()).connect()


def test_the_stream_transport_reports_response_heads_and_ends() -> None:
    def respond(peer: MemoryPeer, body: str) -> None:
        peer.start_response(200, "OK")
        peer.send(b"data: 1\n\n")
        peer.end_response()

    listener = Listener()
    with MemoryServer(respond) as server:
        transport = MemoryStreamTransport(server.url("/v1/chat/completions"), ConnectOptions(), listener, ticking())
        transport.connect()
        transport.send("{}")
        assert server.peers[0].drain(WAIT_S)
        transport.close()
    assert listener.heard == [(("start", 200, "OK"), 102.0), (b"data: 1\n\n", 103.0), ("end", 104.0)]
