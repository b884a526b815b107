"""Decoding client WebSocket messages by the bad-input rules, counting the bytes written, and the
heartbeat's verdict on clients that never answer."""

from __future__ import annotations

import time
from typing import Any

import websocket
from aiohttp import WSCloseCode, WSMessage, WSMsgType
from aiohttp.http_websocket import WebSocketError
from support.server import running_server

from reference_server.metrics import ServerMetrics, Tally
from reference_server.ws_common import CountingTransport, Rejected, decode


def message(kind: WSMsgType, data: Any) -> WSMessage:
    return WSMessage(kind, data, None)


def test_a_json_object_is_decoded() -> None:
    assert decode(message(WSMsgType.TEXT, b'{"type": "ping", "id": "\xc3\xa9"}'), ServerMetrics()) == {
        "type": "ping",
        "id": "é",
    }


def test_rejections() -> None:
    metrics = ServerMetrics()
    bad_utf8 = decode(message(WSMsgType.TEXT, b'{"a": "\xff"}'), metrics)
    assert bad_utf8 == Rejected("bad_utf8", "text frame is not valid UTF-8", WSCloseCode.INVALID_TEXT)
    for raw in (b"{", b"[1]", b'"text"', b"[" * 100_000, b'{"type": "ping", "id": 1e999}', b'{"id": NaN}'):
        rejected = decode(message(WSMsgType.TEXT, raw), metrics)
        assert isinstance(rejected, Rejected) and rejected.code == "bad_json" and rejected.close_code is None
    binary = decode(message(WSMsgType.BINARY, b"\x00"), metrics)
    assert isinstance(binary, Rejected) and binary.code == "binary_unsupported"


def test_end_of_connection_and_layer_errors_are_counted() -> None:
    metrics = ServerMetrics()
    assert decode(message(WSMsgType.CLOSE, 1000), metrics) is None
    assert decode(message(WSMsgType.CLOSED, None), metrics) is None
    assert decode(message(WSMsgType.ERROR, WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, "big")), metrics) is None
    assert decode(message(WSMsgType.ERROR, ConnectionResetError()), metrics) is None
    assert decode(message(WSMsgType.ERROR, TimeoutError("No PONG received")), metrics) is None
    text = metrics.render().decode()
    assert 'rtref_errors_total{code="too_large"} 1.0' in text
    assert 'rtref_rejected_total{reason="oversize"} 1.0' in text
    assert 'rtref_rejected_total{reason="pong_timeout"} 1.0' in text  # was counted as a protocol error
    assert 'rtref_errors_total{code="connection_lost"} 1.0' in text


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def test_counting_transport_counts_and_forwards() -> None:
    inner, tally = FakeTransport(), Tally()
    counting = CountingTransport(inner, tally)  # type: ignore[arg-type]
    counting.write(b"abc")
    counting.write(bytearray(b"de"))
    assert tally.bytes == 5 and inner.written == [b"abc", bytearray(b"de")]
    assert not counting.is_closing() and counting.get_extra_info("peername") == "info:peername"


def test_a_client_that_never_answers_pings_is_closed_and_counted() -> None:
    with running_server("--heartbeat-s", "0.3") as server:
        ws = websocket.create_connection(server.ws_url, timeout=5)  # never reads, so never answers a ping
        deadline = time.monotonic() + 5
        while server.metrics()['rtref_sessions_open{protocol="native"}'] and time.monotonic() < deadline:
            time.sleep(0.05)
        ws.close()
        metrics = server.metrics()
    assert metrics['rtref_sessions_open{protocol="native"}'] == 0
    assert metrics['rtref_rejected_total{reason="pong_timeout"}'] == 1
    assert metrics.get('rtref_errors_total{code="protocol_error"}', 0) == 0
