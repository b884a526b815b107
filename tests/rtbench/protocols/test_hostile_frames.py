"""Every adapter on frames a buggy or hostile target sends: each is a protocol error of the turn in
flight (an `Error` event for it, or for the session, which fails the turn in flight too), never an
exception, never a `Done` whose counts would make the sums wrong, never an unbounded code."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.events import BAD_FIELD, BINARY_FRAME, MALFORMED_FRAME, UNKNOWN_FRAME_TYPE, Done, Error, Token
from rtbench.protocols.fields import MAX_COUNT, MESSAGE_LIMIT
from rtbench.protocols.native import NativeAdapter
from rtbench.protocols.openai_chat import OpenAIChatAdapter
from rtbench.protocols.openai_realtime import OpenAIRealtimeAdapter
from rtbench.protocols.ws_json import WsJsonAdapter

EXAMPLE = Path(__file__).resolve().parents[3] / "scenarios" / "ws-json-example.toml"
NATIVE_AS_WS_JSON: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())["adapter"]
TURN = "t1"
HUGE = 10**30
DEEP = "[" * 100_000 + "]" * 100_000


def native_turn() -> NativeAdapter:
    adapter = NativeAdapter()
    adapter.receive('{"type":"session","session_id":"s","resume_token":"r","persona":null}')
    adapter.prompt(TURN, "hi")
    return adapter


def ws_json_turn() -> WsJsonAdapter:
    adapter = WsJsonAdapter(NATIVE_AS_WS_JSON)
    adapter.receive('{"type":"session","session_id":"s","resume_token":"r"}')
    adapter.prompt(TURN, "hi")
    return adapter


def realtime_turn() -> OpenAIRealtimeAdapter:
    adapter = OpenAIRealtimeAdapter()
    adapter.receive(json.dumps({"type": "session.created", "session": {"id": "s"}}))
    adapter.receive(json.dumps({"type": "session.updated", "session": {"id": "s"}}))
    adapter.prompt(TURN, "hi")
    adapter.receive(json.dumps({"type": "response.created", "response": {"id": "r1"}}))
    return adapter


def chat_turn() -> OpenAIChatAdapter:
    adapter = OpenAIChatAdapter()
    adapter.prompt(TURN, "hi")
    adapter.response_started(200, "OK")
    return adapter


def native_done(usage: Any, seq: int = 2) -> str:
    return json.dumps({"type": "done", "id": TURN, "seq": seq, "usage": usage})


def native_token(**fields: Any) -> str:
    return json.dumps({"type": "token", "id": TURN, "seq": 1, "text": "tok ", "count": 1, **fields})


def realtime_done(usage: Any) -> str:
    return json.dumps({"type": "response.done", "response": {"id": "r1", "status": "completed", "usage": usage}})


def realtime_delta(delta: Any) -> str:
    return json.dumps({"type": "response.output_text.delta", "response_id": "r1", "delta": delta})


def sse(*chunks: Any) -> bytes:
    return b"".join(b"data: " + (c if isinstance(c, bytes) else json.dumps(c).encode()) + b"\n\n" for c in chunks)


def chat_usage(usage: Any) -> bytes:
    content = {"choices": [{"delta": {"content": "tok"}}]}
    return sse(content, {"choices": [], "usage": usage}, b"[DONE]")


NATIVE = ("native", native_turn)
WS_JSON = ("ws-json", ws_json_turn)
REALTIME = ("openai-realtime", realtime_turn)
CHAT = ("openai-chat", chat_turn)

#: (adapter, what is wrong, the frames after the turn started, the code of the turn's error)
CASES: list[tuple[tuple[str, Callable[[], ProtocolAdapter]], str, list[str | bytes], str]] = [
    (NATIVE, "string output_tokens", [native_token(), native_done({"output_tokens": "3"})], BAD_FIELD),
    (NATIVE, "negative output_tokens", [native_token(), native_done({"output_tokens": -117})], BAD_FIELD),
    (NATIVE, "huge output_tokens", [native_token(), native_done({"output_tokens": HUGE})], BAD_FIELD),
    (NATIVE, "fractional output_tokens", [native_token(), native_done({"output_tokens": 2.5})], BAD_FIELD),
    (NATIVE, "boolean output_tokens", [native_token(), native_done({"output_tokens": True})], BAD_FIELD),
    (NATIVE, "string input_tokens", [native_token(), native_done({"input_tokens": "3"})], BAD_FIELD),
    (NATIVE, "usage a list", [native_token(), native_done([3])], BAD_FIELD),
    (NATIVE, "usage a string", [native_token(), native_done("3 tokens")], BAD_FIELD),
    (NATIVE, "string count", [native_token(count="2")], BAD_FIELD),
    (NATIVE, "negative count", [native_token(count=-5)], BAD_FIELD),
    (NATIVE, "zero count", [native_token(count=0)], BAD_FIELD),
    (NATIVE, "huge count", [native_token(count=HUGE)], BAD_FIELD),
    (NATIVE, "text an object", [native_token(text={"t": 1})], BAD_FIELD),
    (NATIVE, "turn id a number", [native_token(id=1)], BAD_FIELD),
    (NATIVE, "seq negative", [native_token(seq=-1)], BAD_FIELD),
    (NATIVE, "seq a string", [native_token(seq="1")], BAD_FIELD),
    (NATIVE, "done without id", [native_token(), json.dumps({"type": "done", "seq": 2})], BAD_FIELD),
    (NATIVE, "error code an object", [json.dumps({"type": "error", "id": TURN, "code": {"a": [1]}})], BAD_FIELD),
    (NATIVE, "error code null", [json.dumps({"type": "error", "id": TURN, "code": None, "message": "m"})], BAD_FIELD),
    (NATIVE, "error id a list", [json.dumps({"type": "error", "id": [TURN], "code": "x", "message": "m"})], "x"),
    (NATIVE, "error message an object", [json.dumps({"type": "error", "id": TURN, "code": "x", "message": {}})], "x"),
    (NATIVE, "type a number", [json.dumps({"type": 7})], UNKNOWN_FRAME_TYPE),
    (NATIVE, "not JSON", ["{this is not json"], MALFORMED_FRAME),
    (NATIVE, "a JSON array", ["[1, 2]"], MALFORMED_FRAME),
    (NATIVE, "nested too deep", [DEEP], MALFORMED_FRAME),
    (NATIVE, "lone surrogate", ['{"type":"token","id":"t1","seq":1,"text":"\\ud800","count":1}'], MALFORMED_FRAME),
    (NATIVE, "binary, not UTF-8", [b"\xff\xfe\x00"], BINARY_FRAME),
    (WS_JSON, "string output_tokens", [native_token(), native_done({"output_tokens": "3"})], BAD_FIELD),
    (WS_JSON, "negative output_tokens", [native_token(), native_done({"output_tokens": -117})], BAD_FIELD),
    (WS_JSON, "huge output_tokens", [native_token(), native_done({"output_tokens": HUGE})], BAD_FIELD),
    (WS_JSON, "usage a list", [native_token(), native_done({"output_tokens": [3]})], BAD_FIELD),
    (WS_JSON, "string count", [native_token(count="2")], BAD_FIELD),
    (WS_JSON, "negative count", [native_token(count=-5)], BAD_FIELD),
    (WS_JSON, "error code an object", [json.dumps({"type": "error", "code": {"a": 1}, "message": "m"})], "error"),
    (WS_JSON, "not JSON", ["{this is not json"], MALFORMED_FRAME),
    (WS_JSON, "nested too deep", [DEEP], MALFORMED_FRAME),
    (WS_JSON, "binary, not UTF-8", [b"\xff\xfe\x00"], BINARY_FRAME),
    (REALTIME, "string output_tokens", [realtime_delta("tok"), realtime_done({"output_tokens": "3"})], BAD_FIELD),
    (REALTIME, "negative output_tokens", [realtime_delta("tok"), realtime_done({"output_tokens": -117})], BAD_FIELD),
    (REALTIME, "huge output_tokens", [realtime_delta("tok"), realtime_done({"output_tokens": HUGE})], BAD_FIELD),
    (REALTIME, "string input_tokens", [realtime_delta("tok"), realtime_done({"input_tokens": "3"})], BAD_FIELD),
    (REALTIME, "usage a list", [realtime_delta("tok"), realtime_done([3])], BAD_FIELD),
    (REALTIME, "delta a number", [realtime_delta(5)], BAD_FIELD),
    (REALTIME, "response not an object", [json.dumps({"type": "response.done", "response": [1]})], BAD_FIELD),
    (REALTIME, "error not an object", [json.dumps({"type": "error", "error": "boom"})], BAD_FIELD),
    (REALTIME, "error code an object", [json.dumps({"type": "error", "error": {"code": {"a": 1}}})], "error"),
    (REALTIME, "type a list", [json.dumps({"type": ["error"]})], UNKNOWN_FRAME_TYPE),
    (REALTIME, "not JSON", ["{this is not json"], MALFORMED_FRAME),
    (REALTIME, "binary, not UTF-8", [b"\xff\xfe\x00"], BINARY_FRAME),
    (CHAT, "string completion_tokens", [chat_usage({"completion_tokens": "3"})], BAD_FIELD),
    (CHAT, "negative completion_tokens", [chat_usage({"completion_tokens": -117})], BAD_FIELD),
    (CHAT, "huge completion_tokens", [chat_usage({"completion_tokens": HUGE})], BAD_FIELD),
    (CHAT, "string prompt_tokens", [chat_usage({"prompt_tokens": "3"})], BAD_FIELD),
    (CHAT, "usage a list", [sse({"choices": [], "usage": [3]}, b"[DONE]")], BAD_FIELD),
    (CHAT, "choices an object", [sse({"choices": {"a": 1}})], BAD_FIELD),
    (CHAT, "content a number", [sse({"choices": [{"delta": {"content": 5}}]})], BAD_FIELD),
    (CHAT, "error code an object", [sse({"error": {"code": {"a": 1}, "message": ["m"]}})], "server_error"),
    (CHAT, "not JSON", [sse(b"{this is not json")], MALFORMED_FRAME),
    (CHAT, "not UTF-8", [sse(b"\xff\xfe{")], MALFORMED_FRAME),
]


def check_sane(events: list[Any]) -> None:
    """What the accounting may take from any frame: counts it can sum, codes it can name."""
    for event in events:
        if type(event) is Done:
            for count in (event.output_tokens, event.input_tokens):
                assert count is None or (type(count) is int and 0 <= count <= MAX_COUNT), event
            assert type(event.turn_id) is str
        elif type(event) is Token:
            assert type(event.count) is int and 1 <= event.count <= MAX_COUNT, event
            assert type(event.turn_id) is str and type(event.text) is str
        elif type(event) is Error:
            assert type(event.code) is str and event.code and len(event.code) <= 200, event
            assert type(event.message) is str and len(event.message) <= 4 * MESSAGE_LIMIT, event
            assert event.turn_id is None or type(event.turn_id) is str


@pytest.mark.parametrize(
    ("adapter", "frames", "code"),
    [pytest.param(adapter, frames, code, id=f"{adapter[0]}: {what}") for adapter, what, frames, code in CASES],
)
def test_a_hostile_frame_is_a_protocol_error_of_the_turn(
    adapter: tuple[str, Callable[[], ProtocolAdapter]], frames: list[str | bytes], code: str
) -> None:
    session = adapter[1]()
    events = [event for frame in frames for event in session.receive(frame)]
    events += session.response_ended()  # HTTP: the body ends; nothing for WebSocket adapters
    check_sane(events)
    assert not [event for event in events if type(event) is Done], events
    errors = [event for event in events if type(event) is Error]
    assert errors and errors[0].code == code, events
    assert errors[0].turn_id in (TURN, None) and not errors[0].fatal


def test_a_rejected_frame_still_takes_its_sequence_number() -> None:
    adapter = native_turn()
    assert [e.code for e in adapter.receive(native_token(count="2")) if type(e) is Error] == [BAD_FIELD]
    assert adapter.receive(native_done({"output_tokens": 1})) == [Done(TURN, 2, 1, None, None)]  # no seq_gap


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    adapter=st.sampled_from([NATIVE, WS_JSON, REALTIME, CHAT]),
    shape=st.sampled_from(["token", "done", "error", "usage"]),
    field=st.sampled_from(["id", "seq", "count", "text", "usage", "code", "message", "type", "output_tokens"]),
    value=JSON_VALUES,
)
def test_any_value_in_any_field_never_raises_and_never_breaks_the_sums(
    adapter: tuple[str, Callable[[], ProtocolAdapter]], shape: str, field: str, value: Any
) -> None:
    frames: dict[str, dict[str, Any]] = {
        "token": {"type": "token", "id": TURN, "seq": 1, "text": "tok", "count": 1},
        "done": {"type": "done", "id": TURN, "seq": 1, "usage": {"output_tokens": 1}},
        "error": {"type": "error", "id": TURN, "code": "c", "message": "m"},
        "usage": {"type": "done", "id": TURN, "seq": 1, "usage": {"output_tokens": 1, "input_tokens": 1}},
    }
    frame = frames[shape]
    (frame["usage"] if field == "output_tokens" and "usage" in frame else frame)[field] = value
    name, new = adapter
    session = new()
    text = json.dumps(frame)
    if name == "openai-realtime":  # the same values in the realtime shapes
        text = json.dumps({"type": "response.done", "response": {"id": "r1", "status": "completed", **frame}})
    events = session.receive(sse(text.encode(), b"[DONE]") if name == "openai-chat" else text)
    check_sane(events + session.response_ended())
