"""Admission limits: token buckets and the session gate (pure, clock injected), then the limits end to
end: --max-sessions, --rate-limit and --max-inflight refuse with clear codes and count the refusal."""

from __future__ import annotations

import http.client
import json

import pytest
import websocket
from support.abuse import rejected
from support.clients import NativeClient, recv_json
from support.server import running_server

from reference_server.limits import BucketStore, RateLimiter, SessionGate, TokenBucket, check_prompt


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_spends_its_burst_then_says_when_the_next_token_comes() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.25) == pytest.approx(0.25)  # a refused prompt spends nothing
    assert bucket.take(0.5) == 0.0
    assert not bucket.full(0.5) and bucket.full(2.0)
    assert [bucket.take(100.0) for _ in range(4)][-1] > 0  # refills to `burst`, not beyond


def test_rate_limiter_off_passes_everything() -> None:
    limiter = RateLimiter(0.0, 1)
    assert not limiter.enabled and limiter.bucket() is None and limiter.wait(None) == 0.0


def test_bucket_store_keeps_keys_apart_and_forgets_refilled_or_oldest_buckets() -> None:
    clock = Clock()
    store = BucketStore(RateLimiter(1.0, 1, clock), capacity=2)
    assert store.wait("a") == 0.0 and store.wait("a") == pytest.approx(1.0)
    assert store.wait("b") == 0.0
    assert store.wait("c") == 0.0 and len(store) == 2  # "a" (oldest, not refilled) made room
    assert store.wait("a") == 0.0  # a new, full bucket
    clock.now += 5
    store.prune()
    assert len(store) == 0


def test_session_gate() -> None:
    gate = SessionGate(2)
    assert gate.enter() and gate.enter() and not gate.enter() and gate.open == 2
    gate.leave()
    assert gate.enter()
    unlimited = SessionGate(0)
    assert all(unlimited.enter() for _ in range(1000))


def test_check_prompt_refuses_in_flight_before_spending_a_token() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock)
    bucket = limiter.bucket()
    refusal = check_prompt(2, 2, limiter, bucket)
    assert refusal is not None and refusal.code == "inflight_limit" and refusal.retry_after_s is None
    assert check_prompt(2, 1, limiter, bucket) is None
    refusal = check_prompt(2, 1, limiter, bucket)
    assert refusal is not None and refusal.code == "rate_limited" and refusal.retry_after_s == pytest.approx(1.0)
    assert check_prompt(0, 10**6, limiter, None) is None


# -- end to end ---------------------------------------------------------------------------------

CHAT = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()


def test_max_sessions_refuses_upgrades_and_http_with_503_until_a_session_ends() -> None:
    with running_server("--max-sessions", "2", "--tokens", "2", "--ttft-ms", "1") as server:
        native = NativeClient(server.ws_url)
        realtime = websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5)
        for path in ("/ws", "/v1/realtime"):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(server.url(path, "ws"), timeout=5)
            assert refused.value.status_code == 503
            assert refused.value.resp_headers["retry-after"] == "1"
            assert json.loads(refused.value.resp_body)["error"]["code"] == "max_sessions"
        conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
        conn.request("POST", "/v1/chat/completions", CHAT)
        response = conn.getresponse()
        assert response.status == 503 and json.loads(response.read())["error"]["code"] == "max_sessions"
        assert native.turn("still-fine")[-1]["type"] == "done"  # the held sessions are untouched
        realtime.close()
        native.close()
        with NativeClient(server.ws_url) as again:
            assert again.turn("t")[-1]["type"] == "done"
        metrics = server.metrics()
        assert metrics['rtref_rejected_total{reason="max_sessions"}'] == 3
        assert metrics['rtref_errors_total{code="max_sessions"}'] == 3


def test_native_rate_limit_refuses_over_the_burst_and_keeps_the_session() -> None:
    with running_server("--rate-limit", "0.5:3", "--tokens", "1", "--ttft-ms", "1") as server:
        with NativeClient(server.ws_url) as client:
            for i in range(5):
                client.prompt(f"t{i}")
            frames = [client.recv() for _ in range(3 * 2 + 2)]  # 3 turns of token + done, 2 errors
            client.send(type="ping", id="alive")
            assert client.until({"pong"})[-1]["id"] == "alive"
        errors = [f for f in frames if f["type"] == "error"]
        assert sorted(e["id"] for e in errors) == ["t3", "t4"]
        assert all(e["code"] == "rate_limited" and 0 < e["retry_after_s"] <= 2.0 for e in errors)
        assert sorted(f["id"] for f in frames if f["type"] == "done") == ["t0", "t1", "t2"]
        assert rejected(server, "rate_limited") == 2


def test_realtime_rate_limit_answers_response_create_with_an_error_event() -> None:
    with running_server("--rate-limit", "0.5:1", "--tokens", "1", "--ttft-ms", "1") as server:
        ws = websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5)
        recv_json(ws)
        ws.send(json.dumps({"type": "response.create"}))
        while recv_json(ws)["type"] != "response.done":
            pass
        ws.send(json.dumps({"type": "response.create", "event_id": "again"}))
        error = recv_json(ws)
        ws.close()
        assert error["type"] == "error" and error["error"]["code"] == "rate_limited"
        assert error["error"]["event_id"] == "again" and 0 < error["error"]["retry_after_s"] <= 2.0
        assert rejected(server, "rate_limited") == 1


def post(
    server_host: str,
    port: int,
    headers: dict[str, str],
    conn: http.client.HTTPConnection | None = None,
) -> tuple[http.client.HTTPConnection, int, dict[str, str], bytes]:
    conn = conn or http.client.HTTPConnection(server_host, port, timeout=5)
    conn.request("POST", "/v1/completions", json.dumps({"prompt": "x", "max_tokens": 1}), headers)
    response = conn.getresponse()
    return conn, response.status, dict(response.headers), response.read()


def test_http_rate_limit_per_connection_and_per_authorization() -> None:
    with running_server("--rate-limit", "0.25:1", "--tokens", "1", "--ttft-ms", "1") as server:
        conn, first, _, _ = post(server.host, server.port, {})
        _, second, headers, body = post(server.host, server.port, {}, conn)
        assert (first, second) == (200, 429)
        assert headers["Retry-After"] == "4" and json.loads(body)["error"]["code"] == "rate_limited"
        assert post(server.host, server.port, {})[1] == 200  # another connection, another bucket
        alice = {"Authorization": "Bearer alice"}
        assert post(server.host, server.port, alice)[1] == 200
        assert post(server.host, server.port, alice)[1] == 429  # new connection, same Authorization
        assert post(server.host, server.port, {"Authorization": "Bearer bob"})[1] == 200
        assert rejected(server, "rate_limited") == 2


def test_in_flight_limit_counts_prompts_and_persona_switches() -> None:
    flags = ("--max-inflight", "2", "--ttft-ms", "300", "--tokens", "1", "--persona", "p:switch_ms=300")
    with running_server(*flags) as server:
        with NativeClient(server.ws_url) as client:
            client.prompt("a")
            client.send(type="persona", persona="p")
            client.prompt("c")
            refused = client.recv()
            assert refused["type"] == "error" and refused["code"] == "inflight_limit" and refused["id"] == "c"
            client.until({"done"}, "a")
            assert client.turn("d")[-1]["type"] == "done"  # room again once "a" ended
        assert rejected(server, "inflight_limit") == 1
