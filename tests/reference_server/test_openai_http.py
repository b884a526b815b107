"""OpenAI-compatible HTTP end to end: SSE and whole-JSON answers from a real server subprocess."""

from __future__ import annotations

import socket
import statistics
import time
from collections.abc import Iterator

import pytest
from support.clients import post_json, post_sse
from support.server import ServerHandle, running_server

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hello big world"}]}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(
        "--ttft-ms", "40", "--itl-ms", "5", "--tokens", "6", "--persona", "quick:ttft_ms=5,tokens=2"
    ) as handle:
        yield handle


def test_chat_stream_with_usage(server: ServerHandle) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    sent, response = post_sse(server.url("/v1/chat/completions"), body)
    assert response.status == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    assert response.data[-1] == "[DONE]"
    chunks = response.json()
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert content == [f"tok{i} " for i in range(6)]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 6,
        "total_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    role_at, first_at = response.events[0][0] - sent, response.events[1][0] - sent
    assert role_at < 0.030  # the role chunk goes at once
    assert 0.040 <= first_at < 0.050  # client-side: the 40 ms TTFT plus loopback and client delays
    gaps = [b[0] - a[0] for a, b in zip(response.events[1:7], response.events[2:8], strict=False)]
    assert statistics.median(gaps) == pytest.approx(0.005, abs=0.0025)


def test_chat_stream_without_usage(server: ServerHandle) -> None:
    _, response = post_sse(server.url("/v1/chat/completions"), {**CHAT, "stream": True, "max_tokens": 2})
    chunks = response.json()
    assert response.data[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks)
    assert len(chunks) == 1 + 2 + 1


def test_chat_whole_json(server: ServerHandle) -> None:
    status, body = post_json(server.url("/v1/chat/completions"), {**CHAT, "max_tokens": 4})
    assert status == 200 and body["object"] == "chat.completion" and body["model"] == "m1"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "tok0 tok1 tok2 tok3 "}
    assert body["usage"] == {
        "prompt_tokens": 3,
        "completion_tokens": 4,
        "total_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_legacy_completions_stream_and_whole(server: ServerHandle) -> None:
    _, response = post_sse(
        server.url("/v1/completions"), {"prompt": "a b", "stream": True, "stream_options": {"include_usage": True}}
    )
    chunks = response.json()
    assert {c["object"] for c in chunks} == {"text_completion"}
    assert [c["choices"][0]["text"] for c in chunks[:6]] == [f"tok{i} " for i in range(6)]
    assert chunks[-1]["usage"]["prompt_tokens"] == 2
    status, body = post_json(server.url("/v1/completions"), {"prompt": ["x y", "z"], "max_tokens": 1})
    assert status == 200 and body["choices"][0]["text"] == "tok0 " and body["usage"]["prompt_tokens"] == 3


def test_model_naming_a_persona_uses_its_profile(server: ServerHandle) -> None:
    sent, response = post_sse(server.url("/v1/chat/completions"), {**CHAT, "model": "quick", "stream": True})
    chunks = response.json()
    assert len(chunks) == 1 + 2 + 1
    assert response.events[1][0] - sent < 0.030


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{oops", "bad_json"),
        (b"[]", "bad_json"),
        (b'{"messages": "hi"}', "bad_request"),
        (b'{"messages": [{"role": "user", "content": 5}]}', "bad_request"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": -1}', "bad_request"),
    ],
)
def test_bad_requests_get_400_and_the_server_goes_on(server: ServerHandle, body: bytes, code: str) -> None:
    status, error = post_json(server.url("/v1/chat/completions"), body)
    assert status == 400 and error["error"]["code"] == code and error["error"]["message"]
    status, ok = post_json(server.url("/v1/chat/completions"), {**CHAT, "max_tokens": 1})
    assert status == 200 and ok["usage"]["completion_tokens"] == 1


def test_counters_move(server: ServerHandle) -> None:
    before = server.metrics()
    post_json(server.url("/v1/chat/completions"), {**CHAT, "max_tokens": 3})
    post_sse(server.url("/v1/chat/completions"), {**CHAT, "stream": True, "max_tokens": 3})
    after = server.metrics()
    key = 'rtref_prompts_total{protocol="openai"}'
    assert after[key] - before.get(key, 0) == 2
    assert after['rtref_frames_total{protocol="openai"}'] - before.get('rtref_frames_total{protocol="openai"}', 0) == 6
    assert after['rtref_bytes_sent_total{protocol="openai"}'] > before.get(
        'rtref_bytes_sent_total{protocol="openai"}', 0
    )


def test_injected_errors() -> None:
    with running_server("--ttft-ms", "0", "--itl-ms", "0", "--tokens", "5", "--error-rate", "1") as failing:
        _, response = post_sse(failing.url("/v1/chat/completions"), {**CHAT, "stream": True})
        status, body = post_json(failing.url("/v1/chat/completions"), CHAT)
        assert failing.metrics()['rtref_errors_total{code="injected"}'] == 2
    assert response.json()[-1]["error"]["code"] == "injected" and "[DONE]" not in response.data
    assert status == 500 and body["error"]["code"] == "injected"


def test_bodies_that_stop_or_break_are_cut_off_quietly() -> None:
    """A client leaving mid-body logged an ERROR line each time (a way to flood the log); a chunk that
    breaks after the head left the handler waiting forever. Now: silence, and the handshake timeout."""
    with running_server("--handshake-timeout-s", "0.5") as srv:
        left = socket.create_connection((srv.host, srv.port))
        left.sendall(b'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt"')
        time.sleep(0.1)
        left.close()
        broken = socket.create_connection((srv.host, srv.port), timeout=5)
        broken.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        time.sleep(0.1)
        broken.sendall(b"zz\r\n")
        started = time.monotonic()
        assert broken.recv(100) == b""
        closed_after = time.monotonic() - started
        broken.close()
        time.sleep(0.1)
        metrics, stderr = srv.metrics(), srv.stderr()
    assert closed_after < 1.0
    assert metrics['rtref_rejected_total{reason="handshake_timeout"}'] == 1
    assert "ERROR" not in stderr


def test_a_slow_answer_is_not_a_slow_request() -> None:
    """The handshake timeout ends when a request has arrived, not when its answer starts: a whole
    (unstreamed) completion may take longer, and a 404 on a keep-alive connection is an answer too."""
    with running_server("--handshake-timeout-s", "0.3", "--ttft-ms", "600", "--tokens", "1") as srv:
        status, body = post_json(srv.url("/v1/chat/completions"), {**CHAT, "max_tokens": 1})
        kept = socket.create_connection((srv.host, srv.port), timeout=5)
        kept.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = kept.recv(1000)
        time.sleep(0.6)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        again = kept.recv(1000)
        kept.close()
        metrics = srv.metrics()
    assert status == 200 and body["usage"]["completion_tokens"] == 1
    assert answer.startswith(b"HTTP/1.1 404") and again.startswith(b"HTTP/1.1 200")
    assert metrics['rtref_rejected_total{reason="handshake_timeout"}'] == 0
