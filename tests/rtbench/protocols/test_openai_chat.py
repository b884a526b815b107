"""OpenAIChatAdapter on literal SSE bytes: request bodies, content, usage, [DONE], every failure."""

from __future__ import annotations

import json

import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import Wire, adapter_class
from rtbench.protocols.events import BAD_FIELD, MALFORMED_FRAME, Done, Error, Event, Token
from rtbench.protocols.openai_chat import INCOMPLETE_STREAM, OpenAIChatAdapter

ROLE = b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n'  # noqa: E501
STOP = b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
DONE = b"data: [DONE]\n\n"


def delta(text: str, key: str = "content") -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {key: text}}]}).encode() + b"\n\n"


def text_chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "text": text, "finish_reason": None}]}).encode() + b"\n\n"


CHAT_STREAM = ROLE + delta("Hel") + delta("lo") + STOP + USAGE + DONE


def run(
    adapter: OpenAIChatAdapter, pieces: list[bytes], status: int = 200, reason: str = "OK", turn: str = "t1"
) -> list[Event]:
    """One whole turn: prompt, response start, the body pieces, response end."""
    adapter.prompt(turn, "hello")
    events = adapter.response_started(status, reason)
    for piece in pieces:
        events += adapter.receive(piece)
    return events + adapter.response_ended()


def only_error(events: list[Event]) -> Error:
    assert len(events) == 1 and isinstance(events[0], Error), events
    return events[0]


@pytest.fixture
def adapter() -> OpenAIChatAdapter:
    return OpenAIChatAdapter()


# -- options and requests -------------------------------------------------------------------


def test_registered_for_http_sse() -> None:
    adapter = adapter_class("openai-chat")({})
    assert isinstance(adapter, OpenAIChatAdapter)
    assert adapter.wire is Wire.HTTP_STREAM and adapter.awaits_ready is False
    assert not adapter.supports_persona and not adapter.supports_resume
    assert adapter.handshake() == []


def test_chat_request_body(adapter: OpenAIChatAdapter) -> None:
    [body] = adapter.prompt("t1", "hello there", 16)
    assert json.loads(body) == {
        "model": "rtbench",
        "messages": [{"role": "user", "content": "hello there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
    }
    assert "max_tokens" not in json.loads(adapter.prompt("t2", "hi")[0])


def test_completions_body_and_options() -> None:
    adapter = OpenAIChatAdapter(
        {
            "model": "llama",
            "endpoint": "completions",
            "include_usage": False,
            "extra": {"temperature": 0.2, "max_tokens": 9},
        }
    )
    assert json.loads(adapter.prompt("t1", "once upon")[0]) == {
        "model": "llama",
        "prompt": "once upon",
        "stream": True,
        "temperature": 0.2,
        "max_tokens": 9,
    }
    assert json.loads(adapter.prompt("t2", "x", 4)[0])["max_tokens"] == 4  # the turn's limit wins


def test_the_endpoint_follows_the_url() -> None:
    assert OpenAIChatAdapter({"url": "http://h:1/v1/completions"}).endpoint == "completions"
    assert OpenAIChatAdapter({"url": "https://h/api/v1/chat/completions/"}).endpoint == "chat"
    assert OpenAIChatAdapter({"url": "http://h/generate"}).endpoint == "chat"
    assert OpenAIChatAdapter({"url": "http://h/generate", "endpoint": "completions"}).endpoint == "completions"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": 3}, "[adapter] model: expected a model name"),
        ({"model": ""}, "[adapter] model: expected a model name"),
        ({"endpoint": "embeddings"}, '[adapter] endpoint: expected "chat" or "completions"'),
        ({"endpoint": "chat", "url": "http://h/v1/completions"}, "[adapter] endpoint: 'chat' does not match"),
        ({"include_usage": "yes"}, "[adapter] include_usage: expected true or false"),
        ({"extra": [1]}, "[adapter] extra: expected a table"),
        ({"extra": {"stream": False}}, "[adapter] extra.stream: set by rtbench"),
        ({"extra": {"stream_options": {}}}, "use include_usage instead"),
        ({"url": 5}, "[adapter] url: expected a URL string"),
        ({"tokens": "x"}, "[adapter] tokens: unknown option for openai-chat"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        OpenAIChatAdapter(options)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


# -- content, usage and done ----------------------------------------------------------------


def test_chat_stream(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [CHAT_STREAM])
    assert events == [Token("t1", "Hel", 1, None, None), Token("t1", "lo", 1, None, None), Done("t1", None, 2, 3, None)]
    assert adapter.token_count_method == "usage"


def test_same_events_at_every_split(adapter: OpenAIChatAdapter) -> None:
    stream = CHAT_STREAM.replace(b"\n", b"\r\n")
    whole = run(adapter, [stream])
    for cut in range(len(stream) + 1):
        assert run(adapter, [stream[:cut], stream[cut:]]) == whole, f"cut at {cut}"
    assert run(adapter, [stream[i : i + 1] for i in range(len(stream))]) == whole


def test_role_only_and_empty_deltas_make_no_token(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [ROLE, delta(""), STOP, b'data: {"choices":[{"delta":{"content":null}}]}\n\n', DONE])
    assert events == [Done("t1", None, None, None, None)]


def test_reasoning_counts_as_content_flagged_as_reasoning(adapter: OpenAIChatAdapter) -> None:
    events = run(
        adapter, [ROLE, delta("thinking", "reasoning_content"), delta("hmm", "reasoning"), delta("answer"), DONE]
    )
    tokens = [(e.text, e.reasoning) for e in events if isinstance(e, Token)]
    assert tokens == [("thinking", True), ("hmm", True), ("answer", False)]


def test_a_delta_with_reasoning_and_answer_gives_both_tokens_reasoning_first(adapter: OpenAIChatAdapter) -> None:
    both = b'data: {"choices":[{"index":0,"delta":{"reasoning_content":"so","content":"yes"}}]}\n\n'
    events = run(adapter, [ROLE, both, DONE])
    assert [(e.text, e.reasoning) for e in events if isinstance(e, Token)] == [("so", True), ("yes", False)]


def test_without_usage_tokens_are_counted_per_delta(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [ROLE, delta("a"), delta("b"), delta("c"), STOP, DONE])
    assert sum(e.count for e in events if isinstance(e, Token)) == 3
    assert events[-1] == Done("t1", None, None, None, None)
    assert adapter.token_count_method == "per_delta"


def test_completions_stream() -> None:
    adapter = OpenAIChatAdapter({"endpoint": "completions"})
    stop = b'data: {"choices":[{"index":0,"text":"","finish_reason":"stop"}]}\n\n'
    events = run(adapter, [text_chunk("tok0 "), text_chunk("tok1 "), stop, USAGE, DONE])
    assert events == [
        Token("t1", "tok0 ", 1, None, None),
        Token("t1", "tok1 ", 1, None, None),
        Done("t1", None, 2, 3, None),
    ]


def test_comments_and_keepalives_are_ignored(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [b": ping\n\n", b"data: \n\n", delta("x"), b": OPENROUTER PROCESSING\n\n", DONE])
    assert events == [Token("t1", "x", 1, None, None), Done("t1", None, None, None, None)]


def test_turn_ids_follow_the_prompt(adapter: OpenAIChatAdapter) -> None:
    assert run(adapter, [delta("a"), DONE], turn="t1")[0].turn_id == "t1"
    events = run(adapter, [delta("b"), DONE], turn="t2")
    assert [e.turn_id for e in events] == ["t2", "t2"]  # type: ignore[union-attr]


def test_nothing_counts_after_done(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [delta("a"), DONE + delta("late") + DONE])
    assert events == [Token("t1", "a", 1, None, None), Done("t1", None, None, None, None)]


# -- failures -------------------------------------------------------------------------------


def test_a_malformed_chunk_is_an_error_and_the_stream_goes_on(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [delta("a"), b"data: {not json\n\n", b"data: [1, 2]\n\n", delta("b"), DONE])
    assert [type(e).__name__ for e in events] == ["Token", "Error", "Error", "Token", "Done"]
    assert events[1].code == MALFORMED_FRAME and events[1].turn_id == "t1"  # type: ignore[union-attr]
    assert events[1].fatal is False  # type: ignore[union-attr]
    assert "list" in events[2].message  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "chunk",
    [
        b'data: {"choices":{"delta":{}}}\n\n',
        b'data: {"choices":["text"]}\n\n',
        b'data: {"choices":[{"delta":{"content":5}}]}\n\n',
    ],
)
def test_chunks_of_the_wrong_shape_are_bad_fields(adapter: OpenAIChatAdapter, chunk: bytes) -> None:
    events = run(adapter, [chunk, DONE])
    assert isinstance(events[0], Error) and events[0].code == BAD_FIELD and isinstance(events[1], Done)


def test_an_error_object_in_the_stream(adapter: OpenAIChatAdapter) -> None:
    error = (
        b'data: {"error":{"message":"injected fault: the completion failed","type":"server_error",'
        b'"param":null,"code":"injected"}}\n\n'
    )
    events = run(adapter, [ROLE, delta("a"), error])
    assert events[1:] == [Error("injected", "injected fault: the completion failed", "t1", False)]
    # no code: the type names it; no incomplete_stream on top of the server's error
    assert run(adapter, [b'data: {"error":{"message":"overloaded","type":"overloaded_error"}}\n\n']) == [
        Error("overloaded_error", "overloaded", "t1", False)
    ]
    assert only_error(run(adapter, [b'data: {"error":"boom"}\n\n'])).code == "server_error"


def test_a_stream_without_done_is_incomplete(adapter: OpenAIChatAdapter) -> None:
    events = run(adapter, [ROLE, delta("a"), STOP])
    assert events[-1] == Error(INCOMPLETE_STREAM, "the response ended without data: [DONE]", "t1", False)
    # an unterminated [DONE] (no blank line) is not a [DONE]
    assert run(adapter, [delta("a"), b"data: [DONE]\n"])[-1].code == INCOMPLETE_STREAM  # type: ignore[union-attr]
    assert only_error(run(adapter, [])).code == INCOMPLETE_STREAM


def test_http_errors_carry_the_message_of_the_body(adapter: OpenAIChatAdapter) -> None:
    body = b'{"error":{"message":"Rate limit reached for requests","type":"requests","code":"rate_limit_exceeded"}}'
    events = run(adapter, [body[:30], body[30:]], status=429, reason="Too Many Requests")
    assert events == [Error("http_429", "Rate limit reached for requests", "t1", False)]
    assert adapter.token_count_method == "per_delta"


def test_http_error_bodies_of_other_shapes(adapter: OpenAIChatAdapter) -> None:
    assert only_error(run(adapter, [b'{"error":"model not found"}'], 404)).message == "model not found"
    assert only_error(run(adapter, [b"upstream\n  timed out"], 504)).message == "upstream timed out"
    plain = only_error(run(adapter, [], 500, "Internal Server Error"))
    assert (plain.code, plain.message) == ("http_500", "500 Internal Server Error")
    long = only_error(run(adapter, [json.dumps({"error": {"message": "x" * 5000}}).encode()], 503))
    assert len(long.message) == 200 and long.message.endswith("…")
    # an error body that looks like SSE is not parsed as a stream
    assert only_error(run(adapter, [DONE], 500)).code == "http_500"
