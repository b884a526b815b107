"""The reference server under attack: hypothesis throws malformed frames, bodies and headers, slowloris
connections, non-reading clients and floods at a real server process on 127.0.0.1.

After each kind of attack the server must still be up (/healthz 200, a fresh session streams a correct
response), its RSS must stay within RSS_GROWTH_LIMIT of what it was before, the matching
`rtref_rejected_total{reason}` must have gone up, and it must have written no traceback or ERROR line.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.abuse import (
    assert_no_crash,
    assert_still_serving,
    close_all,
    non_readers,
    open_many,
    raw_http,
    rejected,
    server_rss,
    slowloris,
    strict_loads,
    upgrade_request,
    ws_frames,
)
from support.server import ServerHandle, running_server

MAX_BYTES = 4096
MAX_SESSIONS = 400
HANDSHAKE_S = 1.0
SLOW_READER_S = 1.0
#: How much the server's RSS may grow over one kind of attack (it starts at ~43 MiB). The largest
#: growth measured is the flood, +21 MiB with 400 sessions held at once (~50 KiB each, and freed
#: memory that the allocator keeps); then the 15 non-reading clients, +7 MiB (each native session
#: keeps up to --max-replay-bytes, 1 MiB, and ~128 KiB of unsent frames). Twice the largest
#: leaves room for noise; before replay buffers were bounded in bytes, 30 non-reading clients
#: took +100 MiB, and this bound is what caught it.
RSS_GROWTH_LIMIT = 48 * 2**20

FLAGS = (
    "--ttft-ms",
    "1",
    "--itl-ms",
    "0",
    "--tokens",
    "3",
    "--max-message-bytes",
    str(MAX_BYTES),
    "--persona",
    "slow:switch_ms=5",
    "--max-sessions",
    str(MAX_SESSIONS),
    "--rate-limit",
    "500:200",
    "--handshake-timeout-s",
    str(HANDSHAKE_S),
    "--slow-reader-timeout-s",
    str(SLOW_READER_S),
)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

NATIVE_TYPES = ["prompt", "persona", "resume", "ping"]
REALTIME_TYPES = ["session.update", "conversation.item.create", "response.create", "response.cancel"]
ENDPOINTS = {"/ws": NATIVE_TYPES, "/v1/realtime": REALTIME_TYPES}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(*FLAGS) as handle:
        yield handle


@dataclass
class Attack:
    """Before-and-after bookkeeping of one kind of attack."""

    server: ServerHandle
    rss_before: int
    counts_before: dict[str, float]

    @classmethod
    def start(cls, server: ServerHandle, *reasons: str) -> Attack:
        return cls(server, server_rss(server), {reason: rejected(server, reason) for reason in reasons})

    def finish(self) -> dict[str, float]:
        """Check the server survived; returns how much each counted reason went up."""
        assert_no_crash(self.server)
        assert_still_serving(self.server)
        rss_after = server_rss(self.server)
        print(f"RSS {self.rss_before / 2**20:.1f} -> {rss_after / 2**20:.1f} MiB")
        assert rss_after - self.rss_before < RSS_GROWTH_LIMIT
        deltas = {reason: rejected(self.server, reason) - before for reason, before in self.counts_before.items()}
        print(f"rejected: {deltas}")
        return deltas


# -- strategies ---------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
#: Numbers and constants a strict JSON parser refuses or that overflow.
odd_numbers = st.sampled_from(
    ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "9" * 5000, "1" * 4000, "0.%s1" % ("0" * 400), "-0", "1E400"]
)
#: Nesting depths away from the interpreter's recursion limit (~1000), where the client's and the
#: server's stack depths could tell apart.
depths = st.integers(1, 900) | st.integers(1100, 2000)


@dataclass(frozen=True)
class Frame:
    """One WebSocket message to send: `opcode` text or binary, raw payload bytes."""

    opcode: int
    payload: bytes


def text(data: str) -> Frame:
    return Frame(websocket.ABNF.OPCODE_TEXT, data.encode())


def message_frames(types: list[str]) -> st.SearchStrategy[Frame]:
    fields = [
        "id",
        "text",
        "max_tokens",
        "persona",
        "resume_token",
        "last_seq",
        "event_id",
        "session",
        "item",
        "response",
        "content",
    ]
    shaped = st.builds(
        lambda kind, extra: {"type": kind, **extra},
        st.sampled_from(types) | json_values,
        st.dictionaries(st.sampled_from(fields), json_values, max_size=4),
    )
    realtime_item = st.builds(
        lambda parts: {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": parts},
        },
        st.lists(st.dictionaries(st.sampled_from(["type", "text"]), json_values), max_size=3),
    )
    session_update = st.builds(
        lambda persona: {"type": "session.update", "session": {"persona": persona}},
        json_values | st.sampled_from(["slow", "default"]),
    )
    return st.one_of(
        shaped.map(lambda m: text(json.dumps(m))),
        realtime_item.map(lambda m: text(json.dumps(m))),
        session_update.map(lambda m: text(json.dumps(m))),
        json_values.map(lambda v: text(json.dumps(v))),
        st.text(max_size=64).map(text),
        st.binary(max_size=64).map(lambda b: Frame(websocket.ABNF.OPCODE_TEXT, b)),
        st.binary(max_size=64).map(lambda b: Frame(websocket.ABNF.OPCODE_BINARY, b)),
        odd_numbers.map(text),
        st.builds(
            lambda kind, number: text(
                f'{{"type":{json.dumps(kind)},"id":{number},"max_tokens":{number},"last_seq":{number}}}'
            ),
            st.sampled_from(types),
            odd_numbers,
        ),
        depths.map(lambda d: text("[" * d + "]" * d)),
        st.builds(
            lambda kind, d: text(f'{{"type":{json.dumps(kind)},"id":{"[" * d + "]" * d}}}'),
            st.sampled_from(types),
            depths,
        ),
        st.integers(MAX_BYTES - 2, MAX_BYTES + 64).map(lambda n: text('{"type":"ping","id":"%s"}' % ("x" * (n - 24)))),
    )


def expected(frame: Frame, types: list[str]) -> tuple[str | None, int | None]:
    """(error code the server must answer with, close code it must close with); None, None: any reply."""
    if len(frame.payload) > MAX_BYTES:
        return None, 1009
    if frame.opcode == websocket.ABNF.OPCODE_BINARY:
        return "binary_unsupported", None
    try:
        data = frame.payload.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_utf8", 1007
    try:
        message = strict_loads(data)
    except (ValueError, RecursionError):
        return "bad_json", None
    if not isinstance(message, dict):
        return "bad_json", None
    if not isinstance(message.get("type"), str) or message["type"] not in types:
        return "unknown_type", None
    return None, None


# -- WebSocket frames ---------------------------------------------------------------------------


def error_code(frame: dict[str, Any]) -> str | None:
    if frame.get("type") != "error":
        return None
    return frame["error"]["code"] if isinstance(frame.get("error"), dict) else frame.get("code")


def receive(ws: websocket.WebSocket) -> dict[str, Any] | int:
    """The next server message as a strictly parsed JSON object, or the close code."""
    opcode, data = ws.recv_data(control_frame=True)
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        return int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
    assert opcode == websocket.ABNF.OPCODE_TEXT, opcode
    message = strict_loads(data.decode("utf-8"))
    assert isinstance(message, dict) and isinstance(message.get("type"), str), message
    return message


def await_error(ws: websocket.WebSocket, code: str) -> None:
    while True:
        message = receive(ws)
        assert not isinstance(message, int), f"closed with {message} while waiting for a {code} error"
        if error_code(message) == code:
            return


def await_close(ws: websocket.WebSocket, close: int) -> None:
    while True:
        message = receive(ws)
        if isinstance(message, int):
            assert message == close
            return


def probe(ws: websocket.WebSocket, path: str) -> None:
    """The connection still answers: a ping (native) or an unknown event (realtime) gets its reply."""
    if path == "/ws":
        ws.send(json.dumps({"type": "ping", "id": "probe"}))
        while True:  # earlier pings' pongs may come first
            reply = receive(ws)
            assert not isinstance(reply, int), f"closed with {reply}"
            if reply["type"] == "pong" and reply["id"] == "probe":
                return
    else:
        ws.send(json.dumps({"type": "probe", "event_id": "probe-1"}))
        await_error(ws, "unknown_type")


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_random_and_malformed_frames(server: ServerHandle, path: str) -> None:
    types = ENDPOINTS[path]
    attack = Attack.start(server, "malformed", "oversize")
    sent = {"malformed": 0, "oversize": 0}

    @FUZZ
    @given(frames=st.lists(message_frames(types), min_size=1, max_size=8))
    def fuzz(frames: list[Frame]) -> None:
        ws = websocket.create_connection(server.url(path, "ws"), timeout=5)
        try:
            receive(ws)  # session / session.created
            for frame in frames:
                code, close = expected(frame, types)
                ws.send(frame.payload, frame.opcode)
                if close is not None:
                    sent["oversize" if close == 1009 else "malformed"] += 1
                    await_close(ws, close)
                    return
                if code is not None:
                    sent["malformed"] += 1
                    await_error(ws, code)
            probe(ws, path)
        finally:
            ws.close()

    fuzz()
    deltas = attack.finish()
    assert deltas["oversize"] == sent["oversize"]
    assert deltas["malformed"] >= sent["malformed"]  # well-shaped messages with wrong fields add bad_request


# -- HTTP bodies and headers --------------------------------------------------------------------

request_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda fields: json.dumps(fields).encode(),
        st.dictionaries(
            st.sampled_from(
                ["messages", "prompt", "model", "max_tokens", "max_completion_tokens", "stream", "stream_options"]
            ),
            json_values | st.just(True),
            max_size=5,
        ),
    ),
    st.builds(
        lambda content, stream: json.dumps(
            {"messages": [{"role": "user", "content": content}], "stream": stream, "max_tokens": 2}
        ).encode(),
        json_values,
        st.booleans(),
    ),
    st.builds(
        lambda kind, number: f'{{"prompt":"x","max_tokens":{number},"model":{json.dumps(kind)}}}'.encode(),
        st.text(max_size=8),
        odd_numbers,
    ),
    depths.map(lambda d: ("[" * d + "]" * d).encode()),
    st.integers(MAX_BYTES + 1, MAX_BYTES + 3000).map(lambda n: b" " * n),
)


def expected_status(body: bytes) -> set[int]:
    if len(body) > MAX_BYTES:
        return {413}
    try:
        data = strict_loads(body)
    except (ValueError, RecursionError):
        return {400}
    return {400} if not isinstance(data, dict) else {200, 400}


def post(path: str, body: bytes, chunked: bool = False) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
    if chunked:
        chunk = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
        return (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunk + b"0\r\n\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_random_request_bodies(server: ServerHandle, path: str) -> None:
    attack = Attack.start(server, "malformed", "oversize")
    refused = {"malformed": 0, "oversize": 0}

    @FUZZ
    @given(body=request_bodies, chunked=st.booleans())
    def fuzz(body: bytes, chunked: bool) -> None:
        reply = raw_http(server, post(path, body, chunked))
        assert reply.status in expected_status(body), (reply.status, reply.body[:200])
        if reply.status == 200:
            if reply.headers.get("content-type", "").startswith("text/event-stream"):
                events = [line[6:] for line in reply.body.decode().split("\n") if line.startswith("data: ")]
                assert events[-1] == "[DONE]"
                for event in events[:-1]:
                    strict_loads(event)
            else:
                strict_loads(reply.body)
        else:
            error = strict_loads(reply.body)["error"]
            assert error["code"] in {400: {"bad_json", "bad_request"}, 413: {"too_large"}}[reply.status]
            refused["oversize" if reply.status == 413 else "malformed"] += 1

    fuzz()
    deltas = attack.finish()
    assert deltas == refused


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
def test_requests_cut_short(server: ServerHandle, path: str) -> None:
    """Requests that stop anywhere (in the head, in the body, in a chunk) and close: nothing to answer,
    nothing to log."""
    attack = Attack.start(server, "malformed", "oversize", "handshake_timeout")

    @FUZZ
    @given(body=request_bodies, chunked=st.booleans(), cut=st.floats(0.0, 1.0), linger=st.sampled_from([0, 0.02]))
    def fuzz(body: bytes, chunked: bool, cut: float, linger: float) -> None:
        request = post(path, body, chunked)
        with socket.create_connection((server.host, server.port), timeout=5) as sock:
            sock.sendall(request[: int(len(request) * cut)])
            time.sleep(linger)

    fuzz()
    deltas = attack.finish()
    assert deltas["handshake_timeout"] == 0  # every one was closed by its client first


header_names = st.sampled_from(
    [
        "Host",
        "Content-Length",
        "Content-Type",
        "Transfer-Encoding",
        "Connection",
        "Authorization",
        "Upgrade",
        "Expect",
        "X-A",
    ]
) | st.text(max_size=12)
header_values = (
    st.text(max_size=40)
    | st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
    | st.sampled_from(["-1", "chunked", "gzip, chunked", "99999999999999999999", "100-continue", "websocket"])
)
request_lines = st.sampled_from(
    [
        "POST /v1/chat/completions HTTP/1.1",
        "POST /v1/completions HTTP/1.1",
        "GET /ws HTTP/1.1",
        "GET /v1/realtime HTTP/1.1",
        "GET /healthz HTTP/1.0",
        "BREW /ws HTTP/1.1",
        "POST /v1/completions HTTP/9.9",
        "GET /%00 HTTP/1.1",
        "POST  /v1/completions  HTTP/1.1",
        "\x16\x03\x01\x02\x00",
    ]
) | st.text(max_size=30)


@given(
    line=request_lines,
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    long_header=st.sampled_from([0, 0, 0, 9000, 20000]),
    body=st.binary(max_size=40),
)
@FUZZ
def test_random_request_heads(
    server: ServerHandle, line: str, headers: list[tuple[str, str]], long_header: int, body: bytes
) -> None:
    head = line + "\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
    if long_header:
        head += "X-Long: " + "a" * long_header + "\r\n"
    request = head.encode("utf-8", "surrogateescape") + b"\r\n" + body
    started = time.monotonic()
    reply = raw_http(server, request, timeout=HANDSHAKE_S + 4)
    assert time.monotonic() - started < HANDSHAKE_S + 3
    if reply.status is not None:
        assert reply.status < 500 or reply.status == 503, (reply.status, reply.body[:200])


def test_header_fuzz_left_the_server_sound(server: ServerHandle) -> None:
    """Runs after the header fuzz above: counted, alive, and no ERROR line for any malformed head."""
    attack = Attack.start(server, "malformed", "oversize")
    for request in (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
        b"BREW\x00 / HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n",
    ):
        assert raw_http(server, request).status == 400
    deltas = attack.finish()
    assert deltas == {"malformed": 2, "oversize": 1}


# -- slowloris, slow readers, floods -----------------------------------------------------------

CHAT_STREAM = json.dumps({"messages": [{"role": "user", "content": "hi"}], "stream": True}).encode()


def test_slowloris_connections_are_closed_and_counted(server: ServerHandle) -> None:
    """Silent connections, request heads sent byte by byte, and POST bodies sent byte by byte: each is
    cut off about HANDSHAKE_S after it connected (or after its head arrived, for a body)."""
    attack = Attack.start(server, "handshake_timeout")
    head = b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nX-Pad: " + b"a" * 500
    post_head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (
        len(CHAT_STREAM) + 100
    )

    async def attack_all() -> list[list[float | None]]:
        return list(
            await asyncio.gather(
                slowloris(server, 30, b"", 0.05, HANDSHAKE_S + 3),
                slowloris(server, 30, head, 0.05, HANDSHAKE_S + 3),
                slowloris(server, 30, CHAT_STREAM, 0.05, HANDSHAKE_S + 3, head=post_head),
            )
        )

    silent, trickled_head, trickled_body = asyncio.run(attack_all())
    for closed_after in silent + trickled_head + trickled_body:
        assert closed_after is not None and HANDSHAKE_S * 0.9 <= closed_after <= HANDSHAKE_S + 1.5
    assert attack.finish() == {"handshake_timeout": 90}


def outgrowing_response_tokens() -> int:
    """Tokens in a response 1.5 times the kernel's largest TCP send buffer (~10 bytes a token), in
    frames of 300 tokens: a client that does not read makes the server's writes wait."""
    try:
        wmem_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        wmem_max = 4 * 2**20
    return max(600_000, int(wmem_max * 1.5 / 10) // 300 * 300)


@pytest.fixture(scope="module")
def big_server() -> Iterator[ServerHandle]:
    """Responses larger than the kernel's send buffer (it grows to tcp_wmem's maximum, 4 MB here),
    sent as fast as possible."""
    with running_server(
        "--ttft-ms",
        "1",
        "--itl-ms",
        "0",
        "--tokens",
        str(outgrowing_response_tokens()),
        "--tokens-per-frame",
        "300",
        "--slow-reader-timeout-s",
        str(SLOW_READER_S),
        "--handshake-timeout-s",
        str(HANDSHAKE_S),
    ) as handle:
        yield handle


def sessions_open(server: ServerHandle) -> float:
    metrics = server.metrics()
    return sum(metrics[f'rtref_sessions_open{{protocol="{p}"}}'] for p in ("native", "realtime", "openai"))


@pytest.mark.quiet  # the health check after it reads a big response in time: on a quiet machine
def test_clients_that_never_read_are_dropped_and_counted(big_server: ServerHandle) -> None:
    """Native, Realtime and SSE clients that ask for a response bigger than the kernel buffers and
    never read: each connection is aborted SLOW_READER_S after its send buffer filled, and its
    session ends."""
    server = big_server
    attack = Attack.start(server, "slow_reader")
    native = upgrade_request("/ws") + ws_frames({"type": "prompt", "id": "t", "text": "x"})
    realtime = upgrade_request("/v1/realtime") + ws_frames(
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "content": [{"type": "input_text", "text": "x"}]},
        },
        {"type": "response.create"},
    )
    sse = post("/v1/chat/completions", CHAT_STREAM)

    async def attack_all() -> tuple[float, float]:
        writers = [w for payload in (native, realtime, sse) for w in await non_readers(server, payload, 5)]
        started = time.monotonic()
        await asyncio.sleep(0.3)
        held = sessions_open(server)
        while sessions_open(server) and time.monotonic() - started < 20:
            await asyncio.sleep(0.2)
        for writer in writers:
            writer.close()
        return held, time.monotonic() - started

    held, all_gone_after = asyncio.run(attack_all())
    print(f"15 non-reading clients all cut off after {all_gone_after:.1f} s")
    assert held == 15 and all_gone_after >= SLOW_READER_S
    assert attack.finish() == {"slow_reader": 15}
    assert sessions_open(server) == 0


def test_connection_floods(server: ServerHandle) -> None:
    """2,000 WebSocket upgrades at once against --max-sessions 400: 400 sessions, 1,600 clean 503
    refusals; then 2,000 connections that send nothing, all closed by the handshake timeout."""
    attack = Attack.start(server, "max_sessions", "handshake_timeout")
    started = time.monotonic()

    async def upgrades() -> tuple[list[int | None], int | None]:
        conns = await open_many(server, upgrade_request("/ws"), 2000)
        http_while_full = raw_http(server, post("/v1/completions", b'{"prompt": "x"}')).status
        refusals = [c for c in conns if c.status == 503]
        for conn in refusals:
            assert conn.headers["retry-after"] == "1"
            assert strict_loads(conn.body)["error"]["code"] == "max_sessions"
        await close_all(conns)
        return [c.status for c in conns], http_while_full

    statuses, http_while_full = asyncio.run(upgrades())
    print(f"2000 upgrades in {time.monotonic() - started:.2f} s")
    assert statuses.count(101) == MAX_SESSIONS and statuses.count(503) == 2000 - MAX_SESSIONS
    assert http_while_full == 503

    async def silent_flood() -> int:
        gate = asyncio.Semaphore(256)

        async def one() -> bool:
            async with gate:
                reader, writer = await asyncio.open_connection(server.host, server.port)
            try:
                return await asyncio.wait_for(reader.read(1), HANDSHAKE_S + 3) == b""
            except ConnectionResetError:
                return True
            finally:
                writer.close()

        return sum(await asyncio.gather(*(one() for _ in range(2000))))

    assert asyncio.run(silent_flood()) == 2000
    deltas = attack.finish()
    assert deltas == {"max_sessions": 2000 - MAX_SESSIONS + 1, "handshake_timeout": 2000}
