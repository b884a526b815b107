"""aimock's own timing, measured with plain clients: how far its streams are from their fixtures.

Run: .venv/bin/python benchmarks/aimock_timing.py        (about 1 minute; --help for knobs)

One aimock (third_party/aimock, installed by `make test`) serves a chat fixture (streamingProfile
ttft / tps / jitter, one token per chunk) and two Realtime fixtures (per-delta `latency`, and
`recordedTimings` with a TTFT of its own). Plain blocking clients time every received chunk with
`time.perf_counter()`: http.client for SSE (reading the event stream line by line) and
websocket-client for Realtime. Turns run one after another, `--concurrency` sessions side by side.

For each it prints the distribution (p1 p5 p50 p95 p99 max, ms) of:
- SSE: the role chunk's delay (aimock's `ttft`), the first content chunk's delay (TTFT as rtbench
  defines it: nominal `ttft + 1000/tps`), and the gaps between content chunks (nominal 1000/tps);
- Realtime: the first `response.output_text.delta` after `response.create`, and the gaps.
Each line also gives the median minus nominal, which is the bias the tests must allow for.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import websocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.aimock import chat_fixture, installed_version, realtime_fixture, running_aimock  # noqa: E402
from support.clients import post_sse  # noqa: E402

PERCENTILES = (1, 5, 50, 95, 99)


def quantiles(values: Sequence[float]) -> dict[str, float]:
    """p1 .. p99 and max of `values` (inclusive method)."""
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {**{f"p{p}": cuts[p - 1] for p in PERCENTILES}, "max": max(values)}


def show(label: str, values_s: Sequence[float], nominal_ms: float) -> dict[str, Any]:
    """Print one distribution line (ms) and return it with its bias over `nominal_ms`."""
    values = [v * 1000.0 for v in values_s]
    q = quantiles(values)
    bias = q["p50"] - nominal_ms
    cells = "  ".join(f"{k} {v:7.2f}" for k, v in q.items())
    print(f"{label:<34} n={len(values):<6} nominal {nominal_ms:6.1f}  {cells}  p50-nominal {bias:+.2f}")
    return {"label": label, "n": len(values), "nominal_ms": nominal_ms, **q, "bias_ms": bias}


def sse_turn(url: str) -> tuple[float, float, list[float]]:
    """(role chunk delay, first content delay, content gaps), seconds, of one streamed chat turn."""
    body = {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hello"}],
    }
    sent, response = post_sse(url, body)
    content = []
    role_at = None
    for at, data in response.events:
        if data == "[DONE]":
            break
        chunk = json.loads(data)
        delta = chunk["choices"][0]["delta"] if chunk["choices"] else {}
        if delta.get("content"):
            content.append(at)
        elif "role" in delta and role_at is None:
            role_at = at
    assert role_at is not None and content, response.data
    return role_at - sent, content[0] - sent, [b - a for a, b in zip(content, content[1:], strict=False)]


def realtime_turn(ws: websocket.WebSocket, text: str) -> tuple[float, list[float]]:
    """(first delta delay, delta gaps), seconds, of one Realtime response to `text`."""
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
    ws.send(json.dumps({"type": "response.create"}))
    sent = time.perf_counter()
    deltas = []
    while True:
        event = json.loads(ws.recv())
        if event["type"] == "response.output_text.delta":
            deltas.append(time.perf_counter())
        elif event["type"] == "response.done":
            assert event["response"]["status"] == "completed", event
            break
        elif event["type"] == "error":
            raise AssertionError(event)
    return deltas[0] - sent, [b - a for a, b in zip(deltas, deltas[1:], strict=False)]


def run_parallel(concurrency: int, work: Any) -> None:
    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=100, help="turns per session and surface")
    parser.add_argument("--concurrency", type=int, default=4, help="sessions side by side")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    parser.add_argument("--tps", type=float, default=50.0)
    parser.add_argument("--jitter", type=float, default=0.2)
    parser.add_argument("--latency-ms", type=float, default=20.0, help="Realtime per-delta latency")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.turns < 4:
        parser.error("--turns must be at least 4 (each Realtime fixture gets half of them)")
    gap_ms = 1000.0 / args.tps
    fixtures = [
        chat_fixture(tokens=args.tokens, ttft_ms=args.ttft_ms, tps=args.tps, jitter=args.jitter),
        realtime_fixture(
            tokens=args.tokens, latency_ms=args.latency_ms, match={"endpoint": "realtime", "userMessage": "latency"}
        ),
        realtime_fixture(
            tokens=args.tokens,
            ttft_ms=args.ttft_ms,
            itl_ms=gap_ms,
            match={"endpoint": "realtime", "userMessage": "recorded"},
        ),
    ]
    role: list[float] = []
    first: list[float] = []
    gaps: list[float] = []
    rt: dict[str, tuple[list[float], list[float]]] = {"latency": ([], []), "recorded": ([], [])}
    with running_aimock(fixtures) as mock:
        print(
            f"aimock {installed_version()} pid {mock.pid}: {args.concurrency} x {args.turns} turns per surface; "
            f"chat ttft {args.ttft_ms:g} ms, tps {args.tps:g}, jitter {args.jitter:g}; Realtime latency "
            f"{args.latency_ms:g} ms and recordedTimings {args.ttft_ms:g}/{gap_ms:g} ms; {args.tokens} tokens"
        )
        chat_url = mock.url("/v1/chat/completions")

        def sse_session() -> None:
            for _ in range(args.turns):
                r, f, g = sse_turn(chat_url)
                role.append(r)
                first.append(f)
                gaps.extend(g)

        def realtime_session() -> None:
            ws = websocket.create_connection(mock.url("/v1/realtime?model=gpt-realtime", "ws"), timeout=10)
            try:
                assert json.loads(ws.recv())["type"] == "session.created"
                for i in range(args.turns):
                    kind = "latency" if i % 2 == 0 else "recorded"
                    f, g = realtime_turn(ws, kind)
                    rt[kind][0].append(f)
                    rt[kind][1].extend(g)
            finally:
                ws.close()

        run_parallel(args.concurrency, sse_session)
        run_parallel(args.concurrency, realtime_session)
    rows = [
        show("sse role chunk (ttft)", role, args.ttft_ms),
        show("sse first content (ttft + 1/tps)", first, args.ttft_ms + gap_ms),
        show("sse content gap (1/tps)", gaps, gap_ms),
        show("realtime latency: first delta", rt["latency"][0], args.latency_ms),
        show("realtime latency: delta gap", rt["latency"][1], args.latency_ms),
        show("realtime recorded: first delta", rt["recorded"][0], args.ttft_ms),
        show("realtime recorded: delta gap", rt["recorded"][1], gap_ms),
    ]
    if args.json:
        args.json.write_text(
            json.dumps({"version": installed_version(), "args": vars(args) | {"json": None}, "rows": rows}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
