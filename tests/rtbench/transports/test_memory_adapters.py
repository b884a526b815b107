"""Real protocol adapters driven over the in-memory transports: a turn, a drop and a resume, and a
streamed HTTP response, with the transport chosen by `transport_for` as the load layer does. No
sockets, and every receive time comes from an injected clock."""

from __future__ import annotations

import itertools
import json
from typing import Any

import gevent.event

from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.events import Done, Error, Event, Resumed, SessionReady, Token
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import INCOMPLETE_STREAM, OpenAIChatAdapter
from rtbench.transports.base import ConnectOptions, Transport, transport_for
from rtbench.transports.memory import MemoryPeer, MemoryServer, MemoryStreamTransport, MemoryTransport

WAIT_S = 2.0


class AdapterClient:
    """An adapter and the transport `transport_for` picks for it; a `TransportListener` itself."""

    def __init__(self, adapter: ProtocolAdapter, url: str) -> None:
        self.adapter = adapter
        self.events: list[tuple[Event, float]] = []
        self.closes: list[str] = []
        self._ticks = itertools.count(1)
        self.transport: Transport = transport_for(type(adapter), url)(url, ConnectOptions(), self, self._tick)
        self.changed = gevent.event.Event()

    def _tick(self) -> float:
        return float(next(self._ticks))

    def on_frame(self, frame: str | bytes, received_at: float) -> None:
        self._add(self.adapter.receive(frame), received_at)

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self.changed.set()

    def on_response_start(self, status: int, reason: str, received_at: float) -> None:
        self._add(self.adapter.response_started(status, reason), received_at)

    def on_response_end(self, received_at: float) -> None:
        self._add(self.adapter.response_ended(), received_at)

    def _add(self, events: list[Event], received_at: float) -> None:
        self.events.extend((event, received_at) for event in events)
        self.changed.set()

    def send(self, messages: list[str]) -> None:
        for message in messages:
            self.transport.send(message)

    def kinds(self) -> list[str]:
        return [type(event).__name__ for event, _ in self.events]


class NativeServer:
    """Just enough of the native protocol (reference_server/PROTOCOL.md): sessions, turns of
    `tokens` tokens, and a resume that replays what the client missed."""

    def __init__(self, tokens: int = 3) -> None:
        self.tokens = tokens
        self.sent: list[str] = []  # every seq-numbered frame of the one session, in order
        self.server = MemoryServer(self.handle, self.greet)

    def greet(self, peer: MemoryPeer) -> None:
        number = len(self.server.peers)
        peer.send(json.dumps({"type": "session", "session_id": f"s{number}", "resume_token": f"r{number}"}))

    def handle(self, peer: MemoryPeer, message: str) -> None:
        msg = json.loads(message)
        if msg["type"] == "resume":
            missed = self.sent[msg["last_seq"] :]
            peer.send(
                json.dumps(
                    {"type": "resumed", "session_id": "s1", "last_seq": msg["last_seq"], "replayed": len(missed)}
                )
            )
            for frame in missed:
                peer.send(frame)
            return
        for i in range(self.tokens):
            self._sequenced(peer, {"type": "token", "id": msg["id"], "text": f"tok{i} ", "count": 1})
        self._sequenced(peer, {"type": "done", "id": msg["id"], "usage": {"output_tokens": self.tokens}})

    def _sequenced(self, peer: MemoryPeer, frame: dict[str, Any]) -> None:
        frame["seq"] = len(self.sent) + 1
        self.sent.append(json.dumps(frame))
        peer.send(self.sent[-1])


def test_a_native_turn_a_drop_and_a_resume_over_memory() -> None:
    native = NativeServer(tokens=3)
    with native.server as server:
        adapter = NativeAdapter()
        client = AdapterClient(adapter, server.url("/ws"))
        assert type(client.transport) is MemoryTransport
        timing = client.transport.connect()
        assert (timing.start, timing.end) == (1.0, 2.0)
        client.send(client.adapter.prompt("t1", "hello"))
        first = server.peers[0]
        assert first.drain(WAIT_S)
        assert client.kinds() == ["SessionReady", "Token", "Token", "Token", "Done"]
        assert [at for _, at in client.events] == [3.0, 4.0, 5.0, 6.0, 7.0]  # one clock reading per arrival
        ready = client.events[0][0]
        assert isinstance(ready, SessionReady) and ready.resume_token == "r1"

        # The server drops the connection between turns.
        client.changed.clear()
        first.close("connection lost: closed without a close frame")
        assert client.changed.wait(WAIT_S) and client.closes == ["connection lost: closed without a close frame"]
        assert not client.transport.connected

        # A new connection resumes from the last seq the adapter saw: nothing is replayed.
        resumed = AdapterClient(adapter, server.url("/ws"))
        resumed.transport.connect()
        resumed.send(adapter.resume("r1", adapter.last_seq))
        assert server.peers[1].drain(WAIT_S)
        assert resumed.kinds() == ["SessionReady", "Resumed"]
        event = resumed.events[1][0]
        assert isinstance(event, Resumed) and event.last_seq == 4 and event.replayed == 0
        resumed.transport.close()
        assert server.peers[1].close_reason == "closed by client"


def test_a_resume_replays_the_frames_the_dropped_connection_missed() -> None:
    native = NativeServer(tokens=4)
    with native.server as server:
        client = AdapterClient(NativeAdapter(), server.url("/ws"))
        client.transport.connect()
        client.send(client.adapter.prompt("t1", "hello"))
        client.transport.close()  # the client goes away before any frame arrives
        adapter = client.adapter
        assert isinstance(adapter, NativeAdapter) and adapter.last_seq == 0
        again = AdapterClient(adapter, server.url("/ws"))
        again.transport.connect()
        again.send(adapter.resume("r1", adapter.last_seq))
        assert server.peers[1].drain(WAIT_S)
        assert again.kinds() == ["SessionReady", "Resumed", "Token", "Token", "Token", "Token", "Done"]
        tokens = [event for event, _ in again.events if isinstance(event, Token)]
        assert [t.seq for t in tokens] == [1, 2, 3, 4] and "".join(t.text for t in tokens) == "tok0 tok1 tok2 tok3 "
        done = again.events[-1][0]
        assert isinstance(done, Done) and done.turn_id == "t1" and done.output_tokens == 4
        again.transport.close()


def sse(payload: object) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


def test_an_openai_chat_turn_over_the_memory_stream_transport() -> None:
    def complete(peer: MemoryPeer, body: str) -> None:
        request = json.loads(body)
        assert request["stream"] is True
        peer.start_response(200, "OK")
        peer.send(sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]}))
        for word in ("Hello", " there"):
            peer.send(sse({"choices": [{"index": 0, "delta": {"content": word}}]}))
        if request["messages"][-1]["content"] != "cut":
            peer.send(b"data: [DONE]\n\n")
        peer.end_response()

    with MemoryServer(complete) as server:
        url = server.url("/v1/chat/completions")
        client = AdapterClient(OpenAIChatAdapter({"url": url}), url)
        assert type(client.transport) is MemoryStreamTransport and not client.transport.persistent
        client.transport.connect()
        client.send(client.adapter.prompt("t1", "hi"))
        assert server.peers[0].drain(WAIT_S)
        tokens = [(event.text, at) for event, at in client.events if isinstance(event, Token)]
        assert tokens == [("Hello", 5.0), (" there", 6.0)]  # the role-only chunk at 4.0 carries none
        assert client.kinds()[-1] == "Done"

        client.events.clear()
        client.send(client.adapter.prompt("t2", "cut"))
        assert server.peers[0].drain(WAIT_S)
        last = client.events[-1][0]
        assert isinstance(last, Error) and last.code == INCOMPLETE_STREAM and last.turn_id == "t2"
        client.transport.close()
