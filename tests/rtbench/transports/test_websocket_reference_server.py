"""WebSocketTransport with the NativeAdapter against the bundled reference server.

Covers what the server itself offers: whole turns, bearer-token headers, keepalive pings during
think time, resume with replay, persona switches and the 1009 close of a too-large message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import pytest
import websocket

from rtbench.protocols.events import (
    Done,
    Error,
    Event,
    PersonaChanged,
    Resumed,
    SessionReady,
    Token,
)
from rtbench.protocols.native import NativeAdapter
from rtbench.transports.base import CallbackListener, ConnectOptions
from rtbench.transports.websocket import TransportError, WebSocketTransport

WAIT_S = 5.0


class NativeClient:
    """A transport and an adapter; keeps every event with its receive time."""

    def __init__(self, url: str, **options: Any) -> None:
        self.adapter = NativeAdapter()
        self.events: list[tuple[Event, float]] = []
        self.closes: list[str] = []
        self._changed = gevent.event.Event()
        listener = CallbackListener(self._on_frame, self._on_close)
        self.transport = WebSocketTransport(url, ConnectOptions(**options), listener)

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        self.events.extend((event, received_at) for event in self.adapter.receive(frame))
        self._changed.set()

    def _on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self._changed.set()

    def connect(self) -> SessionReady:
        self.transport.connect()
        ready, _ = self.wait_for(SessionReady)
        assert isinstance(ready, SessionReady)
        return ready

    def send(self, messages: list[str]) -> float:
        sent_at = time.perf_counter()
        for message in messages:
            self.transport.send(message)
        return sent_at

    def wait_for(self, kind: type, test: Callable[[Event], bool] = lambda e: True) -> tuple[Event, float]:
        """The first event of type `kind` passing `test` (waiting for it if need be)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            for event, received_at in self.events:
                if type(event) is kind and test(event):
                    return event, received_at
            self._changed.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0 and self._changed.wait(remaining), f"no {kind.__name__}"

    def of(self, kind: type) -> list:
        return [event for event, _ in self.events if type(event) is kind]


def test_a_native_turn_end_to_end(reference_server) -> None:  # 50 ms TTFT, 10 ms ITL, 20 tokens
    client = NativeClient(reference_server.ws_url)
    client.connect()
    sent_at = client.send(client.adapter.prompt("t1", "hello"))
    done, done_at = client.wait_for(Done, lambda e: e.turn_id == "t1")
    tokens = client.of(Token)
    assert sum(token.count for token in tokens) == 20
    assert [event.seq for event, _ in client.events[1:]] == list(range(1, 22))
    assert isinstance(done, Done) and done.output_tokens == 20 and done.seq == 21
    first_at = next(at for event, at in client.events if type(event) is Token)
    assert 0.045 <= first_at - sent_at < 0.5  # TTFT
    assert 0.045 + 19 * 0.009 <= done_at - sent_at < 1.5  # end to end
    assert client.adapter.duplicates == 0  # and no seq_gap error among the events above
    client.transport.close()


def test_headers_carry_the_bearer_token(reference_server_factory) -> None:
    server = reference_server_factory("--token", "s3cret")
    with pytest.raises(TransportError) as excinfo:
        NativeClient(server.ws_url).transport.connect()
    assert excinfo.value.kind == "handshake" and "401" in str(excinfo.value)
    client = NativeClient(server.ws_url, headers={"Authorization": "Bearer s3cret"})
    assert client.connect().session_id
    client.transport.close()


def test_keepalive_pings_are_answered_during_think_time(reference_server_factory) -> None:
    server = reference_server_factory("--heartbeat-s", "0.2")
    # Control: websocket-client without a reader misses the pings and is dropped.
    idle = websocket.create_connection(server.ws_url, timeout=WAIT_S)
    idle.recv()  # the session frame
    time.sleep(1.0)
    try:
        idle.send('{"type":"ping","id":"p"}')
        reply: object = idle.recv()
    except (websocket.WebSocketException, OSError) as exc:
        reply = exc
    finally:
        idle.close()
    assert not (isinstance(reply, str) and '"pong"' in reply), "the server kept a deaf session"
    # With the reader greenlet, a think time of five heartbeats is survived.
    client = NativeClient(server.ws_url)
    client.connect()
    gevent.sleep(1.0)
    assert client.transport.connected and client.closes == []
    client.send(client.adapter.prompt("t1", "still there?"))
    client.wait_for(Done)
    client.transport.close()


def test_resume_replays_the_missed_frames_without_gaps(reference_server_factory) -> None:
    server = reference_server_factory("--ttft-ms", "10", "--itl-ms", "10", "--tokens", "30")
    first = NativeClient(server.ws_url)
    session = first.connect()
    first.send(first.adapter.prompt("t1", "a long answer"))
    first.wait_for(Token, lambda e: e.seq >= 5)
    first.transport.close()  # the server keeps generating into the replay buffer
    gevent.sleep(0.1)
    second = NativeClient(server.ws_url)
    second.connect()
    second.send(second.adapter.resume(session.resume_token, first.adapter.last_seq))
    resumed, _ = second.wait_for(Resumed)
    done, _ = second.wait_for(Done)
    assert isinstance(resumed, Resumed) and resumed.session_id == session.session_id
    assert resumed.last_seq == first.adapter.last_seq and resumed.replayed > 0
    seqs = [token.seq for token in first.of(Token) + second.of(Token)]
    assert seqs == list(range(1, 31)) and done.seq == 31  # type: ignore[union-attr]
    assert second.of(Error) == [] and second.adapter.duplicates == 0  # no seq_gap error
    second.transport.close()


def test_persona_switch(reference_server_factory) -> None:
    server = reference_server_factory("--persona", "pirate:switch_ms=20,tokens=3")
    client = NativeClient(server.ws_url)
    assert client.connect().persona == "default"
    client.send(client.adapter.persona("pirate"))
    changed, _ = client.wait_for(PersonaChanged)
    assert changed == PersonaChanged("pirate", 1)
    client.send(client.adapter.prompt("t1", "ahoy"))
    done, _ = client.wait_for(Done)
    assert isinstance(done, Done) and done.persona == "pirate" and done.output_tokens == 3
    client.send(client.adapter.persona("ghost"))
    error, _ = client.wait_for(Error)
    assert error.code == "unknown_persona" and not error.fatal  # type: ignore[union-attr]
    client.transport.close()


def test_a_too_large_message_ends_the_connection(reference_server_factory) -> None:
    server = reference_server_factory("--max-message-bytes", "1000")
    client = NativeClient(server.ws_url)
    client.connect()
    client.send(client.adapter.prompt("t1", "x" * 2000))
    deadline = time.monotonic() + WAIT_S
    while not client.closes and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert len(client.closes) == 1 and "1009" in client.closes[0]
    assert not client.transport.connected
    with pytest.raises(TransportError) as excinfo:
        client.send(client.adapter.prompt("t2", "hi"))
    assert excinfo.value.kind == "closed"
