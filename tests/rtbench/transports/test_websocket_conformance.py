"""WebSocketTransport against a server that writes raw frames (support.raw_ws_server): on each
violation of RFC 6455 the client fails the connection with the right close code and closes it; a
valid close frame is answered with its own code. gevent runs without monkey-patching."""

from __future__ import annotations

import gevent.event
import pytest
from support.raw_ws_server import ClientRecord, RawWebSocketServer

from rtbench.transports.base import CallbackListener, ConnectOptions
from rtbench.transports.websocket import WebSocketTransport

WAIT_S = 5.0


def frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv: int = 0, masked: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if len(payload) < 126:
        head += bytes([(0x80 if masked else 0) | len(payload)])
    else:
        head += bytes([(0x80 if masked else 0) | 126]) + len(payload).to_bytes(2, "big")
    return head + (b"\0\0\0\0" if masked else b"") + payload


GOOD = frame(1, b"good")


@pytest.fixture(scope="module")
def server() -> object:
    with RawWebSocketServer() as running:
        yield running


def run_script(server: RawWebSocketServer, script: bytes) -> tuple[list[str | bytes], list[str], ClientRecord]:
    """Connect a transport to `server` playing `script`: the messages it delivered, why it closed,
    and what the server saw it send."""
    server.script = script
    frames: list[str | bytes] = []
    reasons: list[str] = []
    ended = gevent.event.Event()

    def on_close(reason: str) -> None:
        reasons.append(reason)
        ended.set()

    transport = WebSocketTransport(
        server.url, ConnectOptions(), CallbackListener(lambda frame, _: frames.append(frame), on_close)
    )
    transport.connect()
    assert ended.wait(WAIT_S), "the client did not end the connection"
    record = server.wait_for_client()
    assert record.all_masked
    return frames, reasons, record


@pytest.mark.parametrize(
    ("script", "code", "why"),
    [
        pytest.param(GOOD + frame(1, b"\xce\xba\xed\xa0\x80"), 1007, "invalid UTF-8", id="6.3.1 invalid UTF-8"),
        pytest.param(
            GOOD + frame(1, b"\xce", fin=False) + frame(0, b"\xba\xff"),
            1007,
            "invalid UTF-8",
            id="invalid UTF-8 split across fragments",
        ),
        pytest.param(GOOD + frame(1, b"hi", masked=True), 1002, "masked", id="masked frame"),
        pytest.param(GOOD + frame(1, b"hi", rsv=4), 1002, "reserved bits", id="3.4 RSV"),
        pytest.param(GOOD + frame(5) + frame(9), 1002, "reserved opcode", id="4.1.3 opcode 5"),
        pytest.param(GOOD + frame(13), 1002, "reserved opcode", id="4.2.3 opcode 13"),
        pytest.param(GOOD + frame(9, b"p" * 126), 1002, "control frame", id="2.5 ping of 126"),
        pytest.param(GOOD + frame(9, b"p", fin=False), 1002, "fragmented control", id="5.1 fragmented ping"),
        pytest.param(GOOD + frame(0, b"x"), 1002, "continuation", id="5.9 continuation without a start"),
        pytest.param(GOOD + frame(1, b"a", fin=False) + frame(1, b"b"), 1002, "new message", id="5.18 new message"),
        pytest.param(GOOD + bytes([0x82, 127]) + (2**40).to_bytes(8, "big"), 1009, "over the limit", id="9.x 1 TB"),
        pytest.param(GOOD + frame(8, b"a"), 1002, "one-byte", id="7.3.2 close of 1 byte"),
        pytest.param(GOOD + frame(8, (1005).to_bytes(2, "big")), 1002, "invalid code 1005", id="7.9.4 code 1005"),
        pytest.param(GOOD + frame(8, (999).to_bytes(2, "big")), 1002, "invalid code 999", id="7.9.2 code 999"),
        pytest.param(GOOD + frame(8, b"\x03\xe8\xff"), 1007, "close reason", id="7.5.1 invalid close reason"),
    ],
)
def test_a_violation_fails_the_connection_with_its_close_code(
    server: RawWebSocketServer, script: bytes, code: int, why: str
) -> None:
    frames, reasons, client = run_script(server, script)
    assert frames == ["good"]
    assert len(reasons) == 1 and why in reasons[0] and f"closed with {code}" in reasons[0]
    assert client.close_codes == [code] and client.closed_tcp


@pytest.mark.parametrize(
    ("close_payload", "echo"),
    [(b"", 1000), (b"\x03\xe8", 1000), ((3000).to_bytes(2, "big") + b"bye", 3000), ((4999).to_bytes(2, "big"), 4999)],
)
def test_7_7_a_valid_close_is_echoed_and_ends_the_connection(
    server: RawWebSocketServer, close_payload: bytes, echo: int
) -> None:
    frames, reasons, client = run_script(server, GOOD + frame(8, close_payload) + frame(1, b"after") + frame(9))
    assert frames == ["good"]  # 7.1.3, 7.1.4: nothing after the close is read or answered
    assert reasons[0].startswith("closed by server") and client.close_codes == [echo] and client.closed_tcp
    assert [opcode for opcode, _ in client.frames] == [8]


def test_5_6_a_fragmented_text_with_a_ping_inside_it(server: RawWebSocketServer) -> None:
    text = "κό".encode()  # split inside a code point
    script = frame(1, text[:3], fin=False) + frame(9, b"ping") + frame(0, text[3:]) + frame(8)
    frames, reasons, client = run_script(server, script)
    assert frames == ["κό"] and reasons == ["closed by server"]
    assert client.frames == [(10, b"ping"), (8, b"\x03\xe8")] and client.closed_tcp
