"""HttpSseTransport with the OpenAIChatAdapter against real servers on loopback: the reference
server (timing against its latency model, both endpoints, connection reuse, bearer tokens) and a
scripted server (support/sse_server.py) for malformed streams, error statuses and closes.

gevent runs without monkey-patching: the transport makes its own gevent sockets.
"""

from __future__ import annotations

import socket
import ssl
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import psutil
import pytest
from support.server import ServerHandle
from support.sse_server import (
    LAST_CHUNK,
    Reply,
    ScriptedServer,
    chunk,
    event,
    head,
    json_reply,
    make_certificate,
    server_tls_context,
)

from rtbench.errors import ConfigError
from rtbench.protocols.base import Wire
from rtbench.protocols.events import MALFORMED_FRAME, Done, Error, Token
from rtbench.protocols.openai_chat import INCOMPLETE_STREAM, OpenAIChatAdapter
from rtbench.transports.base import TRANSPORTS, CallbackListener, ConnectOptions, TransportError, transport_for
from rtbench.transports.http_sse import HttpSseTransport
from rtbench.transports.tls import tls_context

WAIT_S = 5.0
DONE = b"data: [DONE]\n\n"


def delta(text: str) -> bytes:
    return chunk(event({"choices": [{"index": 0, "delta": {"content": text}}]}))


def stream(*texts: str) -> Reply:
    """A well-formed chunked SSE response with one delta per text, then [DONE]."""
    return Reply(head(), *map(delta, texts), chunk(DONE), LAST_CHUNK)


class Client:
    """A transport and an adapter, as a load user pairs them; keeps what happens with its time."""

    def __init__(
        self,
        url: str,
        adapter_options: dict[str, Any] | None = None,
        clock: Callable[[], float] = time.perf_counter,
        **options: Any,
    ) -> None:
        self.adapter = OpenAIChatAdapter({"url": url, **(adapter_options or {})})
        self.log: list[tuple[Any, float]] = []
        self.closes: list[str] = []
        self._ended = gevent.event.Event()
        listener = CallbackListener(self._on_frame, self._on_close, self._on_start, self._on_end)
        self.transport = HttpSseTransport(url, ConnectOptions(**options), listener, clock)

    def _on_start(self, status: int, reason: str, received_at: float) -> None:
        self.log.append((("start", status, reason), received_at))
        self.adapter.response_started(status, reason)

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        assert isinstance(frame, bytes)
        self.log.extend((e, received_at) for e in self.adapter.receive(frame))

    def _on_end(self, received_at: float) -> None:
        self.log.extend((e, received_at) for e in self.adapter.response_ended())
        self.log.append(("end", received_at))
        self._ended.set()

    def _on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self._ended.set()

    def turn(self, turn_id: str = "t1", max_tokens: int | None = None) -> tuple[float, list[tuple[Any, float]]]:
        """Send a prompt; the send time and what followed until the response ended or the
        connection closed."""
        self.log.clear()
        self._ended.clear()
        sent_at = time.perf_counter()
        for body in self.adapter.prompt(turn_id, "hello there", max_tokens):
            self.transport.send(body)
        assert self._ended.wait(WAIT_S), f"the turn did not end: {self.log}"
        return sent_at, list(self.log)

    def wait_closed(self) -> str:
        deadline = time.monotonic() + WAIT_S
        while not self.closes:
            assert time.monotonic() < deadline, "no close"
            gevent.sleep(0.01)
        return self.closes[0]


def of(kind: type, log: list[tuple[Any, float]]) -> list[Any]:
    return [item for item, _ in log if type(item) is kind]


def times_of(kind: type, log: list[tuple[Any, float]]) -> list[float]:
    return [t for item, t in log if type(item) is kind]


def connections_to(port: int) -> list[Any]:
    return [
        c
        for c in psutil.Process().net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    ]


@pytest.fixture
def scripted() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def start(*replies: Reply, **options: Any) -> ScriptedServer:
        server = ScriptedServer(list(replies), **options).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


# -- against the reference server ----------------------------------------------------------


def test_http_sse_is_the_registered_transport() -> None:
    assert HttpSseTransport.wire is Wire.HTTP_STREAM and not HttpSseTransport.persistent
    assert TRANSPORTS[(Wire.HTTP_STREAM, "http")] is TRANSPORTS[(Wire.HTTP_STREAM, "https")] is HttpSseTransport
    assert transport_for(OpenAIChatAdapter, "http://127.0.0.1/v1/chat/completions") is HttpSseTransport
    with pytest.raises(ConfigError, match=r"'openai-chat' \(HTTP_STREAM\) .* must be http:// or https://"):
        transport_for(OpenAIChatAdapter, "ws://127.0.0.1/ws")


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_chunks_arrive_on_the_servers_latency_model(reference_server: ServerHandle) -> None:
    """--ttft-ms 50 --itl-ms 10 --tokens 20: the first content 50±3 ms after the send, then
    a chunk every 10 ms; five turns on one connection."""
    client = Client(reference_server.url("/v1/chat/completions"))
    client.transport.connect()
    ttfts, gaps = [], []
    for n in range(5):
        sent_at, log = client.turn(f"t{n}")
        tokens, arrivals = of(Token, log), times_of(Token, log)
        assert len(tokens) == 20 and of(Done, log)[0].output_tokens == 20
        ttfts.append(arrivals[0] - sent_at)
        gaps += [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    client.transport.close()
    assert min(ttfts) >= 0.0495 and 0.047 <= statistics.median(ttfts) <= 0.053, ttfts
    assert 0.009 <= statistics.median(gaps) <= 0.011, gaps
    assert client.adapter.token_count_method == "usage"


def test_completions_endpoint(reference_server: ServerHandle) -> None:
    client = Client(reference_server.url("/v1/completions"))
    assert client.adapter.endpoint == "completions"
    client.transport.connect()
    _, log = client.turn(max_tokens=3)
    assert [t.text for t in of(Token, log)] == ["tok0 ", "tok1 ", "tok2 "]
    assert of(Done, log) == [Done("t1", None, 3, 2, None)]
    assert log[0][0] == ("start", 200, "OK") and log[-1][0] == "end"


def test_one_connection_serves_every_turn(reference_server: ServerHandle) -> None:
    client = Client(reference_server.url("/v1/chat/completions"))
    timing = client.transport.connect()
    assert 0 < timing.end - timing.start < 1
    local_ports = set()
    for n in range(3):
        _, log = client.turn(f"t{n}", max_tokens=2)
        assert len(of(Done, log)) == 1
        [connection] = connections_to(reference_server.port)
        local_ports.add(connection.laddr.port)
    assert len(local_ports) == 1 and client.transport.connected
    assert reference_server.metrics()['rtref_sessions_total{protocol="openai"}'] == 3
    client.transport.close()
    assert client.closes == ["closed by client"] and not client.transport.connected


def test_source_address_and_bearer_token(reference_server_factory: Callable[..., ServerHandle]) -> None:
    server = reference_server_factory("--token", "s3cret", "--ttft-ms", "1", "--itl-ms", "1")
    url = server.url("/v1/chat/completions")
    client = Client(url, headers={"Authorization": "Bearer s3cret"}, source_address="127.0.0.2")
    client.transport.connect()
    assert connections_to(server.port)[0].laddr.ip == "127.0.0.2"
    _, log = client.turn(max_tokens=2)
    assert len(of(Token, log)) == 2 and len(of(Done, log)) == 1
    refused = Client(url)
    refused.transport.connect()
    _, log = refused.turn()
    assert log[0][0] == ("start", 401, "Unauthorized")
    [error] = of(Error, log)
    assert error.code == "http_401" and error.turn_id == "t1" and "token" in error.message.lower()
    for each in (client, refused):
        each.transport.close()


def test_times_come_from_the_injected_clock(reference_server: ServerHandle) -> None:
    client = Client(reference_server.url("/v1/chat/completions"), clock=lambda: time.perf_counter() + 1e6)
    timing = client.transport.connect()
    _, log = client.turn(max_tokens=1)
    assert timing.start > 1e6 and all(t > 1e6 for _, t in log)
    client.transport.close()


# -- against the scripted server: timing and requests ----------------------------------------


def test_every_chunk_is_timed_when_it_arrives(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(head(), delta("a"), 0.1, delta("b"), 0.05, delta("c"), chunk(DONE), LAST_CHUNK))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    a, b, c = times_of(Token, log)
    assert 0.095 <= b - a <= 0.13 and 0.045 <= c - b <= 0.08


def test_the_request(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(stream("x"))
    client = Client(
        server.url("/v1/chat/completions?api-version=2"), headers={"Authorization": "Bearer k", "accept": "*/*"}
    )
    client.transport.connect()
    client.turn(max_tokens=4)
    [request] = server.requests
    assert (request.method, request.target) == ("POST", "/v1/chat/completions?api-version=2")
    assert request.headers["host"] == f"127.0.0.1:{server.port}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "*/*" and request.headers["authorization"] == "Bearer k"
    assert request.body == client.adapter.prompt("t1", "hello there", 4)[0].encode()


# -- malformed streams and failures ------------------------------------------------------------


def test_a_truncated_stream_is_incomplete_and_the_connection_goes_on(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(head(), delta("a"), chunk(b'data: {"choices":[]}\n\ndata: [DO'), LAST_CHUNK), stream("b"))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert [e.code for e in of(Error, log)] == [INCOMPLETE_STREAM] and not of(Done, log)
    _, log = client.turn("t2")
    assert of(Done, log) == [Done("t2", None, None, None, None)]
    assert server.connections == 1 and client.closes == []


def test_garbage_json_chunks_are_malformed_frames(scripted: Callable[..., ScriptedServer]) -> None:
    garbage = chunk(b'data: {"choices": [{"delta"\n\n') + chunk(event(b"\xff\xfe not json"))
    server = scripted(Reply(head(), delta("a"), garbage, delta("b"), chunk(DONE), LAST_CHUNK))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert [e.code for e in of(Error, log)] == [MALFORMED_FRAME, MALFORMED_FRAME]
    assert [t.text for t in of(Token, log)] == ["a", "b"] and len(of(Done, log)) == 1


def test_a_close_mid_stream_is_reported_once(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(head(), delta("a"), 0.05, close=True))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert len(of(Token, log)) == 1 and "end" not in [item for item, _ in log]
    assert client.wait_closed().startswith("closed by server") and len(client.closes) == 1
    assert not client.transport.connected
    with pytest.raises(TransportError) as excinfo:
        client.transport.send("{}")
    assert excinfo.value.kind == "closed"


@pytest.mark.parametrize(
    ("reply", "code", "message"),
    [
        (
            json_reply(
                429,
                "Too Many Requests",
                {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
            ),
            "http_429",
            "Rate limit reached",
        ),
        (
            Reply(
                head(500, "Internal Server Error", {"Content-Type": "application/json"}),
                chunk(b'{"error": {"message": "the model crashed",'),
                chunk(b' "type": "server_error"}}'),
                LAST_CHUNK,
            ),
            "http_500",
            "the model crashed",
        ),
    ],
)
def test_error_statuses_carry_the_body_message(
    scripted: Callable[..., ScriptedServer], reply: Reply, code: str, message: str
) -> None:
    server = scripted(reply, stream("ok"))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert of(Error, log) == [Error(code, message, "t1", False)]
    _, log = client.turn("t2")  # the connection is kept for the next request
    assert len(of(Done, log)) == 1 and server.connections == 1


def test_connection_close_ends_the_connection_after_the_response(scripted: Callable[..., ScriptedServer]) -> None:
    reply = Reply(head(headers={"Connection": "close"}), delta("a"), chunk(DONE), LAST_CHUNK)
    server = scripted(reply)
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert len(of(Done, log)) == 1
    assert "Connection: close" in client.wait_closed() and len(client.closes) == 1
    with pytest.raises(TransportError):
        client.transport.send("{}")
    assert server.connections == 1


def test_a_close_while_idle_is_reported(scripted: Callable[..., ScriptedServer]) -> None:
    reply = stream("a")
    server = scripted(Reply(*reply.pieces, 0.05, close=True))
    client = Client(server.url())
    client.transport.connect()
    _, log = client.turn()
    assert len(of(Done, log)) == 1
    assert client.wait_closed() == "closed by server"


def test_one_request_at_a_time(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(Reply(head(), delta("a"), 0.2, chunk(DONE), LAST_CHUNK))
    client = Client(server.url())
    client.transport.connect()
    client.transport.send(client.adapter.prompt("t1", "x")[0])
    assert client.transport.busy
    with pytest.raises(TransportError, match="in flight"):
        client.transport.send(client.adapter.prompt("t2", "x")[0])
    client.transport.close()
    assert client.closes == ["closed by client"]
    client.transport.close()
    assert client.closes == ["closed by client"]


def test_a_failing_handler_ends_the_connection(scripted: Callable[..., ScriptedServer]) -> None:
    server = scripted(stream("a"))
    closes: list[str] = []

    def explode(frame: str | bytes, received_at: float) -> None:
        raise ValueError("boom")

    transport = HttpSseTransport(server.url(), ConnectOptions(), CallbackListener(explode, closes.append))
    transport.connect()
    transport.send("{}")
    deadline = time.monotonic() + WAIT_S
    while not closes and time.monotonic() < deadline:
        gevent.sleep(0.01)
    assert closes == ["response handler failed: ValueError('boom')"] and not transport.connected


# -- connecting ------------------------------------------------------------------------------


def test_https_with_a_ca_file(scripted: Callable[..., ScriptedServer], tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server = scripted(stream("secure"), tls=server_tls_context(cert, key))
    client = Client(server.url(), ssl_context=tls_context(str(cert)))
    client.transport.connect()
    _, log = client.turn()
    assert [t.text for t in of(Token, log)] == ["secure"]
    client.transport.close()
    with pytest.raises(TransportError) as excinfo:
        Client(server.url()).transport.connect()
    assert excinfo.value.kind == "handshake"


def test_a_tls_handshake_that_never_comes_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never answers
        client = Client(f"https://127.0.0.1:{silent.getsockname()[1]}/v1/chat/completions", connect_timeout=0.3)
        start = time.perf_counter()
        with pytest.raises(TransportError) as excinfo:
            client.transport.connect()
    assert excinfo.value.kind == "timeout" and 0.3 <= time.perf_counter() - start < 1.0


def test_refused_and_configuration_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        with pytest.raises(TransportError) as excinfo:
            Client(f"http://127.0.0.1:{probe.getsockname()[1]}/v1/chat/completions").transport.connect()
    assert excinfo.value.kind == "refused"
    listener = CallbackListener(print, print)
    with pytest.raises(ConfigError, match="http:// or https://"):
        HttpSseTransport("ws://127.0.0.1/ws", ConnectOptions(), listener)
    with pytest.raises(ConfigError, match="http:// or https://"):
        HttpSseTransport("ws://127.0.0.1:8765/ws", ConnectOptions(), listener)  # a port does not hide the scheme
    with pytest.raises(ConfigError, match="gevent"):
        HttpSseTransport("https://127.0.0.1/", ConnectOptions(ssl_context=ssl.create_default_context()), listener)
    with pytest.raises(TransportError, match="not connected"):
        HttpSseTransport("http://127.0.0.1/", ConnectOptions(), listener).send("{}")


def test_a_request_closed_unanswered_on_a_reused_connection_may_be_resent(
    scripted: Callable[..., ScriptedServer],
) -> None:
    """The keep-alive connection the server let go after one response (as llama.cpp's does): the
    next request got no byte back, so it never reached the server and may go again. On a fresh
    connection, or once the answer began, the same close is not resendable."""
    client = Client(scripted(stream("a")).url())  # then the script runs out: closed unanswered
    client.transport.connect()
    _, log = client.turn("t1")
    assert len(of(Done, log)) == 1 and not client.transport.busy and not client.transport.resendable
    client.transport.send(client.adapter.prompt("t2", "x")[0])
    assert client.wait_closed() and client.transport.resendable
    fresh = Client(scripted().url())
    fresh.transport.connect()
    fresh.transport.send(fresh.adapter.prompt("t1", "x")[0])
    assert fresh.wait_closed() and not fresh.transport.resendable
    answered = Client(scripted(Reply(head(), delta("a"), close=True)).url())
    answered.transport.connect()
    answered.transport.send(answered.adapter.prompt("t1", "x")[0])
    assert answered.wait_closed() and not answered.transport.resendable
