"""Decoding client WebSocket messages by the bad-input rules, and counting the bytes written."""

from __future__ import annotations

from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType
from aiohttp.http_websocket import WebSocketError

from reference_server.metrics import ServerMetrics, Tally
from reference_server.ws_common import CountingTransport, Rejected, decode


def message(kind: WSMsgType, data: Any) -> WSMessage:
    return WSMessage(kind, data, None)


def test_a_json_object_is_decoded() -> None:
    assert decode(message(WSMsgType.TEXT, b'{"type": "ping", "id": "\xc3\xa9"}'), ServerMetrics()) == \
        {"type": "ping", "id": "é"}


def test_rejections() -> None:
    metrics = ServerMetrics()
    bad_utf8 = decode(message(WSMsgType.TEXT, b'{"a": "\xff"}'), metrics)
    assert bad_utf8 == Rejected("bad_utf8", "text frame is not valid UTF-8", WSCloseCode.INVALID_TEXT)
    for raw in (b"{", b"[1]", b'"text"', b"[" * 100_000):
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
    text = metrics.render().decode()
    assert 'rtref_errors_total{code="too_large"} 1.0' in text
    assert 'rtref_errors_total{code="protocol_error"} 1.0' in text


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
