"""WebSocketTransport against a small aiohttp server on loopback (see conftest.py), for what the
reference server cannot be made to do (bursts, binary frames, odd closes, a hung upgrade, TLS).

gevent runs here without monkey-patching: the transport makes its own gevent sockets, so its I/O
is cooperative either way and the rest of the test session is unaffected.
"""

from __future__ import annotations

import itertools
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event
import pytest
from support.ports import worker_port
from websocket import ABNF

from rtbench.errors import ConfigError
from rtbench.protocols.base import Wire
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import OpenAIChatAdapter
from rtbench.transports.base import TRANSPORTS, CallbackListener, ConnectOptions, transport_for
from rtbench.transports.http_sse import HttpSseTransport
from rtbench.transports.websocket import (
    ConnectTiming,
    TransportError,
    WebSocketTransport,
    tls_context,
)

WAIT_S = 5.0


class Session:
    """Collects what a transport reports."""

    def __init__(self, url: str, clock: Callable[[], float] = time.perf_counter, **options: Any) -> None:
        self.frames: list[str | bytes] = []
        self.times: list[float] = []
        self.closes: list[str] = []
        self._arrived = gevent.event.Event()
        self._expected = 0
        self.closed = gevent.event.Event()
        listener = CallbackListener(self.on_frame, self.on_close)
        self.transport = WebSocketTransport(url, ConnectOptions(**options), listener, clock)

    def on_frame(self, frame: str | bytes, received_at: float) -> None:
        self.frames.append(frame)
        self.times.append(received_at)
        if len(self.frames) >= self._expected:
            self._arrived.set()

    def on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self.closed.set()

    def ask(self, command: str, replies: int = 1) -> list[str | bytes]:
        """Send `command` and return the next `replies` frames."""
        start = len(self.frames)
        self._expected = start + replies
        self._arrived.clear()
        self.transport.send(command)
        assert self._arrived.wait(WAIT_S), f"{len(self.frames) - start} of {replies} frames"
        return self.frames[start : start + replies]


def test_websocket_carries_messages_over_ws_and_wss() -> None:
    assert WebSocketTransport.wire is Wire.MESSAGES and WebSocketTransport.persistent
    assert TRANSPORTS[(Wire.MESSAGES, "ws")] is TRANSPORTS[(Wire.MESSAGES, "wss")] is WebSocketTransport
    assert transport_for(NativeAdapter, "ws://127.0.0.1/ws") is WebSocketTransport
    assert transport_for(NativeAdapter, "WSS://example.com/ws") is WebSocketTransport
    assert transport_for(OpenAIChatAdapter, "https://example.com/v1/chat/completions") is HttpSseTransport
    with pytest.raises(ConfigError, match=r"protocol 'native' \(MESSAGES\) has no transport .* ws:// or wss://"):
        transport_for(NativeAdapter, "http://127.0.0.1/v1/chat/completions")


def test_connect_timing_and_frames_in_order(server) -> None:
    session = Session(server.url())
    timing = session.transport.connect()
    assert session.transport.connected
    assert 0 < timing.end - timing.start < 1.0
    frames = session.ask("burst 500", 500)
    assert frames == [str(i) for i in range(500)]
    assert session.times == sorted(session.times)
    assert session.times[0] >= timing.end
    session.transport.close()
    assert not session.transport.connected
    assert session.closes == ["closed by client"]


def test_timings_come_from_the_injected_clock(server) -> None:
    ticks = itertools.count(100)
    session = Session(server.url(), clock=lambda: float(next(ticks)))
    assert session.transport.connect() == ConnectTiming(100.0, 101.0)
    session.ask("one")
    session.ask("two")
    assert session.times == [102.0, 103.0]  # one clock reading per arrival of bytes
    session.transport.close()


def frame_hex(opcode: int, payload: bytes, fin: bool = True, masked: bool = False) -> str:
    """A server frame as hex, for the test server's `raw` command (websocket-client's encoder)."""
    abnf = ABNF(int(fin), 0, 0, 0, opcode, int(masked), payload)
    abnf.get_mask_key = lambda n: b"\x5a" * n  # fixed, not random: the same test ids in every xdist worker
    return abnf.format().hex()


def test_frames_that_arrive_together_share_their_receive_time(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    together = frame_hex(ABNF.OPCODE_TEXT, b"a") + frame_hex(ABNF.OPCODE_TEXT, b"b")
    split = bytes.fromhex(frame_hex(ABNF.OPCODE_TEXT, b"c" * 300))
    before = time.perf_counter()
    frames = session.ask(f"raw {together} 100 {split[:50].hex()} 100 {split[50:].hex()}", 3)
    assert frames == ["a", "b", "c" * 300]
    a, b, c = session.times
    assert before < a == b  # the receive time of both is the moment their bytes arrived
    assert c - a >= 0.19  # a frame split over two segments is timed by its last part
    session.transport.close()


def test_a_fragmented_message_with_a_ping_between_its_parts(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    pieces = (
        frame_hex(ABNF.OPCODE_TEXT, b"hel", fin=False)
        + frame_hex(ABNF.OPCODE_PING, b"x")
        + frame_hex(ABNF.OPCODE_CONT, "lo ✓".encode())
    )
    assert session.ask(f"raw {pieces}", 2) == ["hello ✓", "pong x"]  # the pong reached the server
    session.transport.close()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (
            frame_hex(ABNF.OPCODE_TEXT, b"hi", masked=True),
            "WebSocket protocol error: a masked frame from the server (closed with 1002)",
        ),
        (
            frame_hex(ABNF.OPCODE_TEXT, b"\xff\xfe"),
            "WebSocket protocol error: invalid UTF-8 in a text message (closed with 1007)",
        ),
    ],
)
def test_a_broken_frame_ends_the_connection_after_the_good_ones(server, bad: str, reason: str) -> None:
    session = Session(server.url())
    session.transport.connect()
    session.transport.send(f"raw {frame_hex(ABNF.OPCODE_TEXT, b'good')}{bad}")
    assert session.closed.wait(WAIT_S)
    assert session.frames == ["good"] and session.closes == [reason]
    assert not session.transport.connected


def test_a_tcp_close_without_a_close_frame_is_a_lost_connection(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    session.transport.send("drop")
    assert session.closed.wait(WAIT_S)
    assert session.closes == ["connection lost: closed without a close frame"]


def test_binary_frames_arrive_as_bytes_and_text_as_str(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    assert session.ask("binary") == [b"\x00\x01\x02"]
    assert session.ask("héllo ✓") == ["héllo ✓"]
    session.transport.close()


def test_source_address_is_used(server) -> None:
    session = Session(server.url(), source_address="127.0.0.2")
    session.transport.connect()
    assert session.ask("peer") == ["127.0.0.2"]
    session.transport.close()
    default = Session(server.url())
    default.transport.connect()
    assert default.ask("peer") == ["127.0.0.1"]
    default.transport.close()


def test_server_close_is_reported_once_and_sending_then_fails(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    session.transport.send("close")
    assert session.closed.wait(WAIT_S)
    assert session.closes == ["closed by server with code 4000: bye"]
    assert not session.transport.connected
    with pytest.raises(TransportError) as excinfo:
        session.transport.send("burst 1")
    assert excinfo.value.kind == "closed"
    session.transport.close()
    assert len(session.closes) == 1


def test_close_is_idempotent_and_stops_the_reader(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    reader = session.transport._reader
    assert reader is not None and not reader.dead
    session.transport.close()
    session.transport.close()
    assert reader.dead
    assert session.closes == ["closed by client"]


def test_close_from_the_frame_handler(server) -> None:
    holder: list[WebSocketTransport] = []

    def close_on_first(frame: str | bytes, received_at: float) -> None:
        frames.append(frame)
        holder[0].close()

    frames: list[str | bytes] = []
    closes: list[str] = []
    transport = WebSocketTransport(server.url(), ConnectOptions(), CallbackListener(close_on_first, closes.append))
    holder.append(transport)
    transport.connect()
    transport.send("burst 100")
    gevent.sleep(0.3)
    assert frames == ["0"] and closes == ["closed by client"]


def test_a_failing_frame_handler_ends_the_connection(server) -> None:
    closes: list[str] = []

    def broken(frame: str | bytes, received_at: float) -> None:
        raise ZeroDivisionError("oops")

    transport = WebSocketTransport(server.url(), ConnectOptions(), CallbackListener(broken, closes.append))
    transport.connect()
    transport.send("burst 1")
    gevent.sleep(0.3)
    assert not transport.connected
    assert len(closes) == 1 and "ZeroDivisionError" in closes[0]


def test_many_sessions_share_the_hub(server) -> None:
    sessions = [Session(server.url()) for _ in range(20)]

    def converse(session: Session) -> list[str | bytes]:
        session.transport.connect()
        frames = session.ask("burst 200", 200)
        session.transport.close()
        return frames

    jobs = [gevent.spawn(converse, session) for session in sessions]
    gevent.joinall(jobs, timeout=10, raise_error=True)
    assert all(job.value == [str(i) for i in range(200)] for job in jobs)


# -- connection failures ----------------------------------------------------------------------


def connect_error(url: str, **options: Any) -> TransportError:
    transport = WebSocketTransport(url, ConnectOptions(**options), CallbackListener(lambda f, t: None, print))
    with pytest.raises(TransportError) as excinfo:
        transport.connect()
    assert not transport.connected
    return excinfo.value


def test_refused_port() -> None:
    error = connect_error(f"ws://127.0.0.1:{worker_port()}/ws")
    assert error.kind == "refused"


def test_upgrade_that_never_completes_times_out_without_blocking_the_hub(server) -> None:
    ticks: list[int] = []

    def tick() -> None:
        while True:
            ticks.append(1)
            gevent.sleep(0.01)

    ticker = gevent.spawn(tick)
    start = time.perf_counter()
    error = connect_error(f"ws://127.0.0.1:{server.hang_port}/ws", connect_timeout=0.3)
    elapsed = time.perf_counter() - start
    ticker.kill()
    assert error.kind == "timeout" and "0.3 s" in str(error)
    assert 0.3 <= elapsed < 1.0
    assert len(ticks) >= 10


def test_unresolvable_host_is_a_dns_error() -> None:
    # A 64-character label is rejected by the IDNA codec before any lookup leaves the host.
    error = connect_error(f"ws://{'a' * 64}.invalid:80/ws")
    assert error.kind == "dns"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1/ws", "http://127.0.0.1:8765/ws", "ws://127.0.0.1:99999/", "ws:///ws"]
)
def test_bad_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError):
        WebSocketTransport(url, ConnectOptions(), CallbackListener(lambda f, t: None, print))


def test_bad_source_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not an IP"):
        WebSocketTransport(
            "ws://127.0.0.1/ws", ConnectOptions(source_address="loopback"), CallbackListener(print, print)
        )


def test_transport_connects_once(server) -> None:
    session = Session(server.url())
    session.transport.connect()
    session.transport.close()
    with pytest.raises(RuntimeError):
        session.transport.connect()


# -- TLS --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_wss_verifies_the_server(start_server: Callable[..., object], certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server = start_server("--cert", str(cert), "--key", str(key))
    session = Session(server.url(scheme="wss"), ssl_context=tls_context(str(cert)))  # type: ignore[attr-defined]
    session.transport.connect()
    assert session.ask("burst 3", 3) == ["0", "1", "2"]
    session.transport.close()
    error = connect_error(server.url(scheme="wss"))  # type: ignore[attr-defined]
    assert error.kind == "handshake" and "certificate" in str(error).lower()


def test_blocking_tls_contexts_are_refused() -> None:
    with pytest.raises(ConfigError, match="gevent"):
        WebSocketTransport(
            "wss://127.0.0.1/ws",
            ConnectOptions(ssl_context=ssl.create_default_context()),
            CallbackListener(print, print),
        )
