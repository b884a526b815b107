"""rtbench against a server we did not write: aimock (CopilotKit's OpenAI mock, 1.43, pinned in
third_party/aimock, installed by `make test`), over loopback with real sockets.

What aimock does with a fixture (its source, dist/sse-writer.js and ws-realtime.js; see
tests/support/aimock.py): on /v1/chat/completions the profile's `ttft` delays the role-only first
chunk, and every later chunk waits `1000/tps` ms, so the first CONTENT (rtbench's TTFT) comes at
`ttft + 1000/tps`. Each delay is one `setTimeout` after the previous write, times
`1 + U(-1, 1) * jitter` (uniform, a fraction). On /v1/realtime the profile is ignored: each text
delta waits `latency`, or `recordedTimings` gives the first delta its own delay. /v1/completions
is not served (404). Realtime `response.done` reports usage as zeros.

Tolerances, from aimock's own timing measured with plain clients (benchmarks/aimock_timing.py:
1 to 4 sessions x 25 to 100 turns of 20 one-token chunks, http.client and websocket-client,
jitter 0, five runs on this shared 2-core machine, some while other work kept a core busy), as
"measured - nominal" in ms, the range over the runs:

    first content (chat)    p1 +0.1..+1.5  p50 +1.5..+2.6  p95 +4.0..+5.7  p99 +6.2..+8.1
    first delta (realtime)  p1 -0.6..+0.7  p50 +0.7..+1.3  p95 +2.2..+3.8  p99 +2.8..+4.9
    gaps between chunks     p1 -0.7        p50 +0.1..+0.5  p95 +1.0..+1.4  p99 +2.2..+2.6

Node fires a timer on a millisecond loop clock cached at the start of a loop turn: a delay mostly
ends a little late, but can end up to ~1 ms early in real time. (A single gap can also look
short when the chunk before it was read late; only times from the send have a hard lower bound.)
- TTFT medians of 5 to 10 turns (jitter 0): at most TIMER_EARLY_MS = 1.5 early (below every
  measured p1) and STACK_LATE_MS = 8.0 late (the largest p99 of single turns: a median of 5
  turns lies beyond it only if 3 of them do, chance ~1e-5 for independent turns). The early
  bound holds for every single first token: no timer fires sooner.
- ITL medians (hundreds of gaps): -1.0 / +1.5 ms, beyond the p1 and p95 of single gaps.
- With jitter j the first content time is ttft*(1 + j*U0) + gap*(1 + j*U1), U uniform on
  [-1, 1]. Its median is the nominal one; the ttft term dominates, with density 1/(2*j*ttft) at
  the middle, so the median of n turns has a standard error of 1/(2 f sqrt(n)) = j*ttft/sqrt(n)
  (10/sqrt(n) ms for j = 0.1, ttft = 100 ms). The `rtbench run` test allows 4 such standard
  errors on top of the bounds above, with n the turns that run completed. The gaps' median moves
  by under 0.1 ms (thousands of gaps, density 1/(2*j*gap)), inside the ITL allowance.
- HDR histograms (3 significant figures) add at most 0.1 ms at 120 ms.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent.event
import pytest
import websocket
from support.adapter_driver import AdapterSession, TurnRecord
from support.aimock import chat_fixture, realtime_fixture, running_aimock, token_text
from support.clients import post_sse
from support.server import ServerHandle

from rtbench.protocols.base import adapter_class
from rtbench.protocols.events import Done, Error, Event, Token
from rtbench.transports.base import CallbackListener, ConnectOptions
from rtbench.transports.http_sse import HttpSseTransport

#: Timing on a quiet machine: these run alone, after the parallel tests (`make test`).
pytestmark = pytest.mark.quiet

TOKENS = 20
TTFT_MS, TPS = 100.0, 50.0
GAP_MS = 1000.0 / TPS
#: rtbench's TTFT on aimock's chat stream: the role chunk, then one more gap to the first content.
CHAT_TTFT_MS = TTFT_MS + GAP_MS
RT_TTFT_MS, RT_ITL_MS, RT_LATENCY_MS = 100.0, 20.0, 30.0
STACK_LATE_MS, TIMER_EARLY_MS = 8.0, 1.5
ITL_EARLY_MS, ITL_LATE_MS = 1.0, 1.5
JITTER = 0.1
WAIT_S = 10.0

FIXTURES = [
    chat_fixture(tokens=TOKENS, ttft_ms=TTFT_MS, tps=TPS, match={"endpoint": "chat", "userMessage": "steady"}),
    chat_fixture(tokens=TOKENS, ttft_ms=TTFT_MS, tps=TPS, jitter=JITTER, match={"endpoint": "chat"}),
    realtime_fixture(tokens=TOKENS, latency_ms=RT_LATENCY_MS, match={"endpoint": "realtime", "userMessage": "latency"}),
    realtime_fixture(tokens=TOKENS, ttft_ms=RT_TTFT_MS, itl_ms=RT_ITL_MS, match={"endpoint": "realtime"}),
]


@pytest.fixture(scope="module")
def aimock() -> Iterator[ServerHandle]:
    with running_aimock(FIXTURES) as mock:
        yield mock


def ms(seconds: float) -> float:
    return seconds * 1000.0


def gaps_ms(turn: TurnRecord) -> list[float]:
    """ITL values of a turn as rtbench defines them: gap between content frames / the later's count."""
    times = [(at, event.count) for event, at in turn.events if type(event) is Token]
    return [ms(b - a) / count for (a, _), (b, count) in zip(times, times[1:], strict=False)]


def assert_near(value: float, nominal: float, early: float, late: float, what: str) -> None:
    assert nominal - early <= value <= nominal + late, (
        f"{what}: {value:.2f} ms, expected {nominal:g} -{early:g}/+{late:g} ms"
    )


class SseSession:
    """An `HttpSseTransport` and an http-sse adapter, every event kept with its receive time."""

    def __init__(self, url: str, protocol: str) -> None:
        self.adapter = adapter_class(protocol)({"url": url})
        self.events: list[tuple[Event, float]] = []
        self.closes: list[str] = []
        self._changed = gevent.event.Event()
        listener = CallbackListener(
            on_frame=lambda chunk, at: self._add(self.adapter.receive(chunk), at),
            on_close=self._closed,
            on_response_start=lambda status, reason, at: self._add(self.adapter.response_started(status, reason), at),
            on_response_end=lambda at: self._add(self.adapter.response_ended(), at),
        )
        self.transport = HttpSseTransport(url, ConnectOptions(), listener)
        self.transport.connect()

    def _add(self, events: list[Event], at: float) -> None:
        self.events.extend((event, at) for event in events)
        self._changed.set()

    def _closed(self, reason: str) -> None:
        self.closes.append(reason)
        self._changed.set()

    def turn(self, turn_id: str, text: str) -> TurnRecord:
        """POST one prompt and wait for its Done or Error (or the connection's end)."""
        (body,) = self.adapter.prompt(turn_id, text)
        start = len(self.events)
        record = TurnRecord(turn_id, time.perf_counter())
        self.transport.send(body)
        while not any(type(e) in (Done, Error) and e.turn_id == turn_id for e, _ in self.events[start:]):
            assert not self.closes, self.closes
            self._changed.clear()
            assert self._changed.wait(WAIT_S), f"turn {turn_id} did not end within {WAIT_S:g} s"
        record.events = [(e, at) for e, at in self.events[start:] if getattr(e, "turn_id", None) == turn_id]
        return record

    def close(self) -> None:
        self.transport.close()


# -- aimock itself, with plain clients: the semantics the tests below rely on ------------------


def test_aimock_streams_a_role_chunk_first_then_one_token_per_chunk_with_usage(aimock: ServerHandle) -> None:
    """`ttft` delays the role-only chunk; the first content comes one `1000/tps` gap later."""
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "steady"}],
    }
    role, first = [], []
    for _ in range(5):
        sent, response = post_sse(aimock.url("/v1/chat/completions"), body)
        assert response.status == 200
        chunks = response.json()
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        content = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
        assert "".join(content) == token_text(TOKENS) and len(content) == TOKENS
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
        assert chunks[-1]["usage"]["completion_tokens"] == TOKENS and response.data[-1] == "[DONE]"
        (role_at, _), (first_at, _) = response.events[:2]
        assert ms(role_at - sent) >= TTFT_MS - TIMER_EARLY_MS  # no timer fires sooner
        role.append(ms(role_at - sent))
        first.append(ms(first_at - sent))
    assert_near(statistics.median(role), TTFT_MS, TIMER_EARLY_MS, STACK_LATE_MS, "role chunk p50")
    assert_near(statistics.median(first), CHAT_TTFT_MS, TIMER_EARLY_MS, STACK_LATE_MS, "first content p50")


def test_aimock_does_not_serve_legacy_completions(aimock: ServerHandle) -> None:
    _, response = post_sse(aimock.url("/v1/completions"), {"model": "m", "prompt": "steady", "stream": True})
    assert response.status == 404 and response.events == []


def test_aimock_realtime_reports_zero_usage(aimock: ServerHandle) -> None:
    ws = websocket.create_connection(aimock.url("/v1/realtime", "ws"), timeout=5)
    try:
        assert json.loads(ws.recv())["type"] == "session.created"
        item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "latency"}]}
        ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        ws.send(json.dumps({"type": "response.create"}))
        events = []
        while not events or events[-1]["type"] != "response.done":
            events.append(json.loads(ws.recv()))
    finally:
        ws.close()
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == token_text(TOKENS) and len(deltas) == TOKENS
    assert events[-1]["response"]["status"] == "completed"
    assert events[-1]["response"]["usage"]["output_tokens"] == 0


# -- rtbench's adapters and transports, driven directly ----------------------------------------


def test_openai_chat_adapter_times_aimock_stream(aimock: ServerHandle) -> None:
    """10 turns on one keep-alive connection, jitter 0: every turn whole, counted from usage, and
    the medians of TTFT and ITL on aimock's profile."""
    session = SseSession(aimock.url("/v1/chat/completions"), "openai-chat")
    try:
        turns = [session.turn(f"t{i}", "steady") for i in range(10)]
    finally:
        session.close()
    for turn in turns:
        assert turn.errors == [] and turn.done is not None, turn.events
        assert turn.text == token_text(TOKENS) and turn.tokens == TOKENS
        assert turn.done.output_tokens == TOKENS
        assert ms(turn.ttft_s) >= CHAT_TTFT_MS - TIMER_EARLY_MS, turn.ttft_s
    assert_near(statistics.median(ms(t.ttft_s) for t in turns), CHAT_TTFT_MS, TIMER_EARLY_MS, STACK_LATE_MS, "TTFT p50")
    itl = [gap for turn in turns for gap in gaps_ms(turn)]
    assert len(itl) == 10 * (TOKENS - 1)
    assert_near(statistics.median(itl), GAP_MS, ITL_EARLY_MS, ITL_LATE_MS, "ITL p50")


def test_openai_chat_adapter_reports_missing_completions_endpoint_as_http_404(aimock: ServerHandle) -> None:
    session = SseSession(aimock.url("/v1/completions"), "openai-chat")
    try:
        turn = session.turn("t1", "steady")
    finally:
        session.close()
    assert turn.token_events == [] and turn.done is None
    (error,) = turn.errors
    assert error.code == "http_404" and "Not found" in error.message and not error.fatal


def test_openai_realtime_adapter_times_aimock_deltas(aimock: ServerHandle) -> None:
    """recordedTimings (TTFT 100 ms, then 20 ms) and per-delta latency (30 ms each): every delta
    a one-token `Token`, the medians on the fixture's timing."""
    with AdapterSession(aimock.url("/v1/realtime", "ws"), adapter_class("openai-realtime")()) as session:
        session.open()
        recorded = [session.turn("recorded timings") for _ in range(8)]
        latency = [session.turn("latency") for _ in range(4)]
    for turn in recorded + latency:
        assert turn.errors == [] and turn.done is not None, turn.events
        assert turn.text == token_text(TOKENS) and turn.tokens == TOKENS
    for turns, ttft, gap in ((recorded, RT_TTFT_MS, RT_ITL_MS), (latency, RT_LATENCY_MS, RT_LATENCY_MS)):
        assert min(ms(t.ttft_s) for t in turns) >= ttft - TIMER_EARLY_MS
        assert_near(statistics.median(ms(t.ttft_s) for t in turns), ttft, TIMER_EARLY_MS, STACK_LATE_MS, "TTFT p50")
        itl = [g for t in turns for g in gaps_ms(t)]
        assert_near(statistics.median(itl), gap, ITL_EARLY_MS, ITL_LATE_MS, "ITL p50")


# -- the whole tool: `rtbench run` (Locust users, in-process) against aimock -------------------

RUN_USERS, RUN_DURATION = 8, "6s"


def rtbench_run(
    tmp_path: Path,
    url: str,
    protocol: str,
    server: ServerHandle,
    *,
    users: int = RUN_USERS,
    duration: str = RUN_DURATION,
    think_time: str = "0s",
    extra: str = "",
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """`rtbench run SCENARIO --target URL` with a scenario written here; (the process, summary.json)."""
    scenario = tmp_path / f"{protocol}.toml"
    scenario.write_text(f"""
[scenario]
name = "aimock-{protocol}"
seed = 1

[target]
url = "{url}"
protocol = "{protocol}"
connect_timeout = "5s"
turn_timeout = "10s"

[load]
users = {users}
spawn_rate = {users}
duration = "{duration}"
think_time = "{think_time}"

[prompts]
texts = ["hello there", "what is a websocket?"]
{extra}""")
    out = tmp_path / "bundle"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtbench.cli",
            "run",
            str(scenario),
            "--target",
            url,
            "--out",
            str(out),
            "--target-pid",
            str(server.pid),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    summary_path = out / "summary.json"
    assert summary_path.exists(), result.stdout + result.stderr
    return result, json.loads(summary_path.read_text())


def assert_whole_delivery(result: subprocess.CompletedProcess[str], summary: dict[str, Any]) -> int:
    """Exit 0 and every turn completed; the turns completed."""
    assert result.returncode == 0, result.stdout + result.stderr
    delivery = summary["delivery"]
    assert delivery["delivery_ratio"] == 1.0 and set(delivery["failed"].values()) == {0}, delivery
    assert delivery["turns_completed"] >= 40, delivery
    return int(delivery["turns_completed"])


def test_rtbench_run_measures_aimock_chat_profile(aimock: ServerHandle, tmp_path: Path) -> None:
    """openai-chat over SSE, 8 users closed loop, jitter 0.1: TTFT p50 on ttft + 1/tps within the
    timer bounds plus 4 standard errors of a median of n turns, ITL p50 on 1/tps."""
    result, summary = rtbench_run(tmp_path, aimock.url("/v1/chat/completions"), "openai-chat", aimock)
    completed = assert_whole_delivery(result, summary)
    assert summary["token_count_method"] == "usage" and summary["counters"]["tokens"] == TOKENS * completed
    ttft, itl = summary["metrics"]["ttft"], summary["metrics"]["itl"]
    four_se = 4 * JITTER * TTFT_MS / math.sqrt(ttft["count"])
    assert_near(ttft["p50"], CHAT_TTFT_MS, TIMER_EARLY_MS + four_se, STACK_LATE_MS + four_se, "run TTFT p50")
    assert_near(itl["p50"], GAP_MS, ITL_EARLY_MS, ITL_LATE_MS, "run ITL p50")
    assert summary["metrics"]["tpot"]["count"] == ttft["count"]


def test_rtbench_run_measures_aimock_realtime_timing(aimock: ServerHandle, tmp_path: Path) -> None:
    """openai-realtime, 8 users closed loop, recordedTimings 100 ms then 20 ms per delta. aimock's
    usage says 0 output tokens whatever it streamed, so tokens are counted from the deltas."""
    result, summary = rtbench_run(tmp_path, aimock.url("/v1/realtime", "ws"), "openai-realtime", aimock)
    assert_whole_delivery(result, summary)
    completed = summary["delivery"]["turns_completed"]
    assert summary["token_count_method"] == "frames" and summary["counters"]["tokens"] == TOKENS * completed
    ttft, itl = summary["metrics"]["ttft"], summary["metrics"]["itl"]
    assert ttft["min"] >= RT_TTFT_MS - TIMER_EARLY_MS
    assert_near(ttft["p50"], RT_TTFT_MS, TIMER_EARLY_MS, STACK_LATE_MS, "run TTFT p50")
    assert_near(itl["p50"], RT_ITL_MS, ITL_EARLY_MS, ITL_LATE_MS, "run ITL p50")


def test_rtbench_run_reports_aimock_missing_completions_endpoint(aimock: ServerHandle, tmp_path: Path) -> None:
    """aimock does not serve /v1/completions: every turn is an `http_404` error. The delivery SLO
    fails, and a run in which no turn completed exits 3 whatever its SLOs say."""
    result, summary = rtbench_run(
        tmp_path,
        aimock.url("/v1/completions"),
        "openai-chat",
        aimock,
        users=2,
        duration="2s",
        think_time="100ms",
        extra='\n[slo]\ndelivery = [">= 99%"]\n',
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "delivery" in result.stdout and "FAIL" in result.stdout
    assert "INVALID: no turn completed of " in result.stdout
    delivery, counters = summary["delivery"], summary["counters"]
    assert delivery["turns_completed"] == 0 and delivery["turns_sent"] > 0
    assert delivery["failed"]["error"] == delivery["turns_sent"] == counters["error_frame_http_404"]
