"""`--reasoning-tokens N`: OpenAI chat streams send N reasoning deltas before the answer, on the
latency model's schedule; `rtref_input_tokens_total` counts every turn's input tokens."""

from __future__ import annotations

import statistics
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support.clients import post_json, post_sse
from support.server import ServerHandle, running_server

CHAT = {"model": "m1", "messages": [{"role": "user", "content": "hello big world"}], "stream": True}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    flags = ("--ttft-ms", "30", "--itl-ms", "10", "--tokens", "4", "--reasoning-tokens", "3")
    with running_server(*flags) as handle:
        yield handle


def _counter(server: ServerHandle, name: str, protocol: str = "openai") -> float:
    with urllib.request.urlopen(server.url("/metrics"), timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("protocol") == protocol:
                return sample.value
    raise AssertionError(f"{name} not exported")


def test_reasoning_deltas_come_first_then_the_answer(server: ServerHandle) -> None:
    sent, response = post_sse(server.url("/v1/chat/completions"), {**CHAT, "stream_options": {"include_usage": True}})
    chunks = response.json()
    deltas = [c["choices"][0]["delta"] for c in chunks[1:-2]]
    assert deltas == [
        {"reasoning_content": "tok0 "},
        {"reasoning_content": "tok1 "},
        {"reasoning_content": "tok2 "},
        *({"content": f"tok{i} "} for i in range(3, 7)),
    ]
    assert chunks[-1]["usage"]["completion_tokens"] == 7  # reasoning counts, as OpenAI's usage does
    first_at = response.events[1][0] - sent
    answer_at = response.events[4][0] - sent
    assert first_at >= 0.030 and answer_at >= 0.030 + 3 * 0.010  # never early
    gaps = [b[0] - a[0] for a, b in zip(response.events[1:7], response.events[2:8], strict=False)]
    assert statistics.median(gaps) == pytest.approx(0.010, abs=0.004)


def test_only_chat_streams_reason(server: ServerHandle) -> None:
    _, response = post_sse(server.url("/v1/completions"), {"model": "m1", "prompt": "hi", "stream": True})
    assert [c["choices"][0]["text"] for c in response.json()[:-1]] == [f"tok{i} " for i in range(4)]
    status, body = post_json(server.url("/v1/chat/completions"), {**CHAT, "stream": False})
    assert status == 200 and body["usage"]["completion_tokens"] == 4


def test_input_tokens_are_counted_per_turn(server: ServerHandle) -> None:
    before = _counter(server, "rtref_input_tokens_total")
    for _ in range(3):
        post_sse(server.url("/v1/chat/completions"), CHAT)  # 3 words: 3 input tokens each
    assert _counter(server, "rtref_input_tokens_total") - before == 9


def test_a_frame_across_the_boundary_is_split() -> None:
    flags = ("--ttft-ms", "5", "--itl-ms", "0", "--tokens", "3", "--tokens-per-frame", "4", "--reasoning-tokens", "2")
    with running_server(*flags) as handle:
        _, response = post_sse(handle.url("/v1/chat/completions"), CHAT)
    deltas = [c["choices"][0]["delta"] for c in response.json()[1:-1]]
    assert deltas == [{"reasoning_content": "tok0 tok1 "}, {"content": "tok2 tok3 "}, {"content": "tok4 "}]
