"""`/v1/chat/completions` conversations: the `messages` context, the `user`-keyed prefix cache, the prefill model."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support.clients import post_json, post_sse
from support.server import ServerHandle, running_server

REPLY = "tok0 tok1 tok2 tok3 tok4 "
SYSTEM = {"role": "system", "content": " ".join(f"rule{i}" for i in range(200))}  # 100 ms of prefill


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    flags = ("--ttft-ms", "20", "--itl-ms", "1", "--tokens", "5", "--prefill-ms-per-1k", "500")
    with running_server(*flags, "--max-detached-sessions", "2", "--max-context-tokens", "400") as handle:
        yield handle


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def chat(server: ServerHandle, messages: list[dict[str, str]], **extra: Any) -> tuple[dict[str, Any], float, str]:
    """A streamed chat completion: its usage, the client-side TTFT in ms, and the text streamed."""
    body = {"messages": messages, "stream": True, "stream_options": {"include_usage": True}, **extra}
    sent, response = post_sse(server.url("/v1/chat/completions"), body)
    content = [(at, json.loads(data)) for at, data in response.events if data != "[DONE]"]
    first = next(at for at, chunk in content if chunk["choices"] and chunk["choices"][0]["delta"].get("content"))
    text = "".join(c["choices"][0]["delta"].get("content", "") for _, c in content if c["choices"])
    return content[-1][1]["usage"], (first - sent) * 1000.0, text


def conversation(server: ServerHandle, turns: int, **extra: Any) -> list[tuple[dict[str, Any], float]]:
    """`turns` turns resending the whole history, each reply as it was streamed."""
    messages, results = [SYSTEM], []
    for turn in range(turns):
        messages.append(user(f"question {turn} has five words"))
        usage, ttft, text = chat(server, messages, **extra)
        assert text == REPLY
        messages.append({"role": "assistant", "content": text})
        results.append((usage, ttft))
    return results


def test_a_user_string_keys_the_prefix_cache(server: ServerHandle) -> None:
    results = conversation(server, 3, user="alice")
    usages = [usage for usage, _ in results]
    assert [u["prompt_tokens"] for u in usages] == [205, 215, 225]  # 200 + (5 + 5) per earlier turn + 5
    assert [u["prompt_tokens_details"]["cached_tokens"] for u in usages] == [0, 210, 220]
    first, later = results[0][1], [ttft for _, ttft in results[1:]]
    assert 20 + 102.5 <= first < 20 + 102.5 + 30
    assert all(20 + 2.5 <= ttft < 20 + 2.5 + 30 for ttft in later), later


def test_without_a_user_nothing_is_cached(server: ServerHandle) -> None:
    results = conversation(server, 2)
    assert [u["prompt_tokens_details"]["cached_tokens"] for u, _ in results] == [0, 0]
    assert results[1][1] >= 20 + 500 * 215 / 1000


def test_each_user_has_a_cache_of_its_own_in_a_bounded_lru(server: ServerHandle) -> None:
    first = [SYSTEM, user("hello")]
    second = [*first, {"role": "assistant", "content": REPLY}, user("again")]
    for name in ("carol", "dave", "erin"):
        chat(server, first, user=name)  # carol is evicted by erin: the LRU holds 2
    assert chat(server, second, user="erin")[0]["prompt_tokens_details"]["cached_tokens"] == 206
    assert chat(server, second, user="carol")[0]["prompt_tokens_details"]["cached_tokens"] == 0


def test_a_changed_system_message_misses_from_message_zero(server: ServerHandle) -> None:
    chat(server, [SYSTEM, user("hello")], user="frank")
    other = {"role": "system", "content": " ".join(f"other{i}" for i in range(200))}
    usage, ttft, _ = chat(
        server, [other, user("hello"), {"role": "assistant", "content": REPLY}, user("x")], user="frank"
    )
    assert usage["prompt_tokens"] == 207 and usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert ttft >= 20 + 500 * 207 / 1000


def test_the_whole_answer_reports_cached_tokens_too(server: ServerHandle) -> None:
    body = {"messages": [SYSTEM, user("hello")], "user": "gina"}
    post_json(server.url("/v1/chat/completions"), body)
    body["messages"] = [SYSTEM, user("hello"), {"role": "assistant", "content": REPLY}, user("more words")]
    status, answer = post_json(server.url("/v1/chat/completions"), body)
    assert status == 200 and answer["usage"]["prompt_tokens"] == 208
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 206}


def test_max_context_tokens_drops_the_oldest_turns_of_a_request(server: ServerHandle) -> None:
    words = " ".join(f"w{i}" for i in range(250))
    messages = [SYSTEM, user(words), {"role": "assistant", "content": REPLY}, user("last one")]
    assert chat(server, messages[2:])[0]["prompt_tokens"] == 5 + 2  # within: nothing goes
    usage = chat(server, messages)[0]
    assert usage["prompt_tokens"] == 202  # 200 + 255 + 2 > 400: the first turn went


def test_a_user_that_is_not_a_string_is_refused(server: ServerHandle) -> None:
    status, body = post_json(server.url("/v1/chat/completions"), {"messages": [user("hi")], "user": 5})
    assert status == 400 and body["error"]["code"] == "bad_request"
