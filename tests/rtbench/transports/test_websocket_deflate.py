"""WebSocketTransport with permessage-deflate: against the reference server's `--deflate`
(aiohttp's compression, its own byte counters as ground truth) and against a raw server that
answers the offer wrongly or sends what was never negotiated."""

from __future__ import annotations

import json
import statistics
import time
import zlib

import gevent
import gevent.event
import pytest
from support.raw_ws_server import RawWebSocketServer
from support.server import ServerHandle

from rtbench.protocols.events import Done, Event, SessionReady, Token
from rtbench.protocols.native import NativeAdapter
from rtbench.transports.base import CallbackListener, ConnectOptions
from rtbench.transports.deflate import DeflateOffer, Negotiated
from rtbench.transports.tally import WireTally
from rtbench.transports.websocket import TransportError, WebSocketTransport

WAIT_S = 5.0
FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
RSV1 = 0x40


class Client:
    """A native session over one transport, keeping every event with its receive time."""

    def __init__(self, url: str, offer: DeflateOffer | None) -> None:
        self.adapter = NativeAdapter()
        self.tally = WireTally()
        self.events: list[tuple[Event, float]] = []
        self.frames: list[dict] = []  # every message as the server wrote it (inflated, parsed)
        self.closes: list[str] = []
        self._changed = gevent.event.Event()
        listener = CallbackListener(self._on_frame, self._on_close)
        self.transport = WebSocketTransport(url, ConnectOptions(compression=offer, tally=self.tally), listener)

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        self.frames.append(json.loads(frame))
        self.events.extend((event, received_at) for event in self.adapter.receive(frame))
        self._changed.set()

    def _on_close(self, reason: str) -> None:
        self.closes.append(reason)
        self._changed.set()

    def wait_for(self, kind: type, count: int = 1) -> list[tuple[Event, float]]:
        deadline = time.monotonic() + WAIT_S
        while len(found := [(e, t) for e, t in self.events if type(e) is kind]) < count:
            self._changed.clear()
            assert self._changed.wait(max(0.0, deadline - time.monotonic())), f"no {kind.__name__}"
        return found

    def turn(self, n: int, text: str = "hello there, tell me about tail latency") -> tuple[float, float]:
        """Send turn `n`; (TTFT, end to end) in seconds."""
        sent_at = time.perf_counter()
        for message in self.adapter.prompt(f"t{n}", text):
            self.transport.send(message)
        done_at = self.wait_for(Done, n)[-1][1]
        first_at = next(t for e, t in self.events if type(e) is Token and t >= sent_at)
        return first_at - sent_at, done_at - sent_at


def run_turns(server: ServerHandle, offer: DeflateOffer | None, turns: int = 3) -> tuple[Client, dict[str, float]]:
    """Connect, run `turns` turns and wait for the server's counters to hold every byte."""
    client = Client(server.ws_url, offer)
    client.transport.connect()
    client.wait_for(SessionReady)
    client.timings = [client.turn(n) for n in range(1, turns + 1)]  # type: ignore[attr-defined]
    gevent.sleep(0.2)  # the last frames are read; the server counts on its side as it writes
    return client, server.metrics()


def assert_bytes_match(client: Client, metrics: dict[str, float]) -> dict[str, int]:
    """The client's counts of both directions are the server's own, to the byte."""
    counted = client.tally.take()
    label = '{protocol="native"}'
    assert counted["ws_wire_bytes_in"] == metrics[f"rtref_bytes_sent_total{label}"]
    assert counted["ws_wire_bytes_out"] == metrics[f"rtref_bytes_received_total{label}"]
    assert counted["ws_payload_bytes_in"] == metrics[f"rtref_payload_bytes_sent_total{label}"]
    assert counted["ws_payload_bytes_out"] == metrics[f"rtref_payload_bytes_received_total{label}"]
    return counted


def test_deflate_against_the_reference_server(reference_server_factory) -> None:
    server = reference_server_factory("--deflate", *FLAGS)
    client, metrics = run_turns(server, DeflateOffer())
    assert client.transport.negotiated == Negotiated()
    assert [sum(e.count for e, _ in client.wait_for(Token, 60)[20 * i : 20 * i + 20]) for i in range(3)] == [20] * 3
    counted = assert_bytes_match(client, metrics)
    assert counted["ws_deflate_negotiated"] == 1
    assert counted["ws_wire_bytes_in"] < 0.5 * counted["ws_payload_bytes_in"]  # compressed for real
    assert counted["ws_wire_bytes_out"] < counted["ws_payload_bytes_out"]  # and so are the prompts
    for ttft, e2e in client.timings:  # type: ignore[attr-defined]
        assert 0.045 <= ttft < 0.5 and 0.045 + 19 * 0.009 <= e2e < 1.5
    client.transport.close()


def test_a_server_without_deflate_declines_and_frames_go_uncompressed(reference_server_factory) -> None:
    server = reference_server_factory(*FLAGS)
    client, metrics = run_turns(server, DeflateOffer(server_max_window_bits=12))
    assert client.transport.negotiated is None and client.wait_for(Done, 3)
    counted = assert_bytes_match(client, metrics)
    assert counted["ws_deflate_declined"] == 1 and "ws_deflate_negotiated" not in counted
    # uncompressed: each frame is its payload plus a 2-byte header (4 for 126+ bytes; masks out)
    assert 1.0 < counted["ws_wire_bytes_in"] / counted["ws_payload_bytes_in"] < 1.05
    client.transport.close()


def test_the_offer_with_window_bits_reaches_aiohttp(reference_server_factory) -> None:
    server = reference_server_factory("--deflate", *FLAGS)
    client, metrics = run_turns(server, DeflateOffer(client_max_window_bits=10, server_max_window_bits=10), turns=1)
    assert client.transport.negotiated == Negotiated(server_max_window_bits=10, client_max_window_bits=10)
    assert_bytes_match(client, metrics)
    client.transport.close()


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_ttft_over_deflate_is_exact_on_both_clocks(reference_server_factory) -> None:
    """The server timing assertions of the uncompressed ground truth (reference_server's
    test_fixed_ttft_is_exact_on_both_clocks), over compressed frames: the client's median TTFT
    within 3 ms of the 50 ms injected, the server's own clock within 0.5 ms."""
    server = reference_server_factory("--deflate", *FLAGS)
    client = Client(server.ws_url, DeflateOffer())
    client.transport.connect()
    client.wait_for(SessionReady)
    assert client.transport.negotiated is not None
    client_ttft, server_ttft = [], []
    for n in range(1, 21):
        ttft, _ = client.turn(n)
        client_ttft.append(ttft)
        first = next(f for f in client.frames if f.get("id") == f"t{n}" and f["type"] == "token")
        done = next(f for f in client.frames if f.get("id") == f"t{n}" and f["type"] == "done")
        server_ttft.append(first["ts"] - done["prompt_ts"])
    client.transport.close()
    assert statistics.median(client_ttft) == pytest.approx(0.050, abs=0.003)
    assert statistics.median(server_ttft) == pytest.approx(0.0505, abs=0.0005)
    assert min(server_ttft) >= 0.0499
    metrics = server.metrics()
    within_1ms = metrics['rtref_send_lateness_seconds_bucket{frame="first",le="0.001"}']
    assert within_1ms >= 0.9 * metrics['rtref_send_lateness_seconds_count{frame="first"}']


# -- a raw server: wrong answers to the offer, frames never negotiated --------------------------


def frame(opcode: int, payload: bytes, rsv: int = 0) -> bytes:
    return bytes([0x80 | rsv | opcode, len(payload)]) + payload


@pytest.fixture(scope="module")
def raw() -> object:
    with RawWebSocketServer() as running:
        yield running


def play(server: RawWebSocketServer, offer: DeflateOffer | None) -> tuple[list[str | bytes], list[str], WireTally]:
    frames: list[str | bytes] = []
    reasons: list[str] = []
    ended = gevent.event.Event()

    def on_close(reason: str) -> None:
        reasons.append(reason)
        ended.set()

    tally = WireTally()
    listener = CallbackListener(lambda message, _: frames.append(message), on_close)
    WebSocketTransport(server.url, ConnectOptions(compression=offer, tally=tally), listener).connect()
    assert ended.wait(WAIT_S), "the client did not end the connection"
    return frames, reasons, tally


def compressed(*messages: bytes) -> list[bytes]:
    compressor = zlib.compressobj(wbits=-15)
    return [(compressor.compress(m) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4] for m in messages]


@pytest.mark.parametrize(("offer", "answer"), [(None, None), (DeflateOffer(), None)])
def test_rsv1_never_negotiated_fails_with_1002(raw: RawWebSocketServer, offer: DeflateOffer | None, answer) -> None:
    raw.extensions, raw.script = answer, frame(1, b"good") + frame(1, compressed(b"sneaky")[0], RSV1)
    frames, reasons, tally = play(raw, offer)
    record = raw.wait_for_client()
    assert frames == ["good"] and record.close_codes == [1002]
    assert len(reasons) == 1 and "reserved bits 0x40" in reasons[0] and "\n" not in reasons[0]
    assert tally.take().get("ws_protocol_error_1002") == 1
    assert raw.offered == (None if offer is None else "permessage-deflate; client_max_window_bits")


def test_a_corrupt_deflate_stream_fails_with_1007(raw: RawWebSocketServer) -> None:
    one, two = compressed(b'{"n": 1}', b'{"n": 2}')
    raw.extensions = "permessage-deflate"
    raw.script = frame(1, one, RSV1) + frame(1, two, RSV1) + frame(1, b"\xff\xfe\xfd\xfc", RSV1)
    frames, reasons, tally = play(raw, DeflateOffer())
    assert frames == ['{"n": 1}', '{"n": 2}'] and raw.wait_for_client().close_codes == [1007]
    assert "did not inflate" in reasons[0] and "closed with 1007" in reasons[0]
    counted = tally.take()
    assert counted["ws_protocol_error_1007"] == 1 and counted["ws_payload_bytes_in"] == 16


@pytest.mark.parametrize(
    ("offer", "answer", "why"),
    [
        (DeflateOffer(), "permessage-deflate; mystery=1", "not offered: mystery"),
        (DeflateOffer(server_max_window_bits=10), "permessage-deflate; server_max_window_bits=15", "over 10"),
        (None, "permessage-deflate", "extensions that were not offered"),
    ],
)
def test_an_answer_the_offer_does_not_allow_fails_the_connect(
    raw: RawWebSocketServer, offer: DeflateOffer | None, answer: str, why: str
) -> None:
    raw.extensions, raw.script = answer, frame(1, b"never read")
    listener = CallbackListener(lambda *_: None, lambda _: None)
    transport = WebSocketTransport(raw.url, ConnectOptions(compression=offer), listener)
    with pytest.raises(TransportError) as excinfo:
        transport.connect()
    assert excinfo.value.kind == "handshake" and why in str(excinfo.value) and "\n" not in str(excinfo.value)
    raw.wait_for_client()
