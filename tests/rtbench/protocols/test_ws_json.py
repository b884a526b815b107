"""WsJsonAdapter on literal frames: templates, selectors, the mismatch checks, option errors."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import ADAPTERS, Wire, adapter_class
from rtbench.protocols.events import (
    BINARY_FRAME,
    CONFIG_MISMATCH,
    MALFORMED_FRAME,
    Done,
    Error,
    SessionReady,
    Token,
)
from rtbench.protocols.ws_json import Template, WsJsonAdapter

EXAMPLE = Path(__file__).resolve().parents[3] / "scenarios" / "ws-json-example.toml"
#: The native protocol described with ws-json, as scenarios/ws-json-example.toml does.
NATIVE: dict[str, Any] = tomllib.loads(EXAMPLE.read_text())["adapter"]

SESSION = '{"type":"session","session_id":"s-1f3a","resume_token":"r-9c","persona":"default","ts":1.0}'


def token(seq: int, text: str = "tok ", count: int = 1, turn: str = "t1") -> str:
    return json.dumps({"type": "token", "id": turn, "seq": seq, "text": text, "count": count, "ts": 1.5})


def done(seq: int, output: int = 2, turn: str = "t1") -> str:
    usage = {"input_tokens": 1, "output_tokens": output}
    return json.dumps({"type": "done", "id": turn, "seq": seq, "usage": usage, "ts": 1.6})


def minimal(**extra: Any) -> dict[str, Any]:
    return {"request": '{"q": "{prompt}"}', "token": "text", "done": "end", **extra}


def feed(adapter: WsJsonAdapter, *frames: str) -> list:
    return [event for frame in frames for event in adapter.receive(frame)]


@pytest.fixture
def native() -> WsJsonAdapter:
    adapter = WsJsonAdapter(NATIVE)
    assert adapter.receive(SESSION) == [SessionReady("s-1f3a", "", None)]
    return adapter


# -- templates ----------------------------------------------------------------------------------


def test_registered_and_ready_only_with_a_ready_selector() -> None:
    assert ADAPTERS["ws-json"] is WsJsonAdapter
    assert adapter_class("ws-json")(NATIVE).awaits_ready
    plain = adapter_class("ws-json")(minimal())
    assert not plain.awaits_ready and plain.wire is Wire.MESSAGES and plain.handshake() == []


def test_the_native_request_from_the_example_scenario(native: WsJsonAdapter) -> None:
    assert json.loads(native.prompt("t1", "hello")[0]) == {"type": "prompt", "id": "t1", "text": "hello"}
    assert json.loads(native.prompt("t2", "hi", 32)[0])["max_tokens"] == 32  # a number, not "32"


@pytest.mark.parametrize(
    "text",
    ['say "hi"', "back\\slash", "line\nbreak", '{"type":"evil"}', "{turn_id} {prompt}", "ünïcødé ☃"],
)
def test_prompt_text_is_escaped_by_the_encoder(text: str) -> None:
    [message] = WsJsonAdapter(minimal(request='{"q": "{prompt}", "tag": "[{turn_id}] {prompt}!"}')).prompt("t1", text)
    assert json.loads(message) == {"q": text, "tag": f"[t1] {text}!"}


def test_a_table_template_and_placeholders_everywhere() -> None:
    request = {"msg": {"kind": "chat", "to": "{session_id}", "parts": ["{prompt}", "{max_tokens}"]}, "{turn_id}": 1}
    adapter = WsJsonAdapter(minimal(request=request, ready="hello", session_id="hello.sid"))
    adapter.receive('{"hello": {"sid": 42}}')  # a non-string id is used as its JSON text
    assert json.loads(adapter.prompt("t9", "hi", 5)[0]) == {
        "msg": {"kind": "chat", "to": "42", "parts": ["hi", 5]},
        "t9": 1,
    }


def test_unset_placeholders_are_left_out() -> None:
    adapter = WsJsonAdapter(
        minimal(
            request='{"q": "{prompt}", "n": "{max_tokens}", "p": "{persona}", "s": "{session_id}", '
            '"l": ["{persona}"], "text": "as {persona}.", "{persona}": 1, "k{max_tokens}": 2}'
        )
    )
    assert json.loads(adapter.prompt("t1", "x")[0]) == {"q": "x", "l": [None], "text": "as .", "k": 2}


def test_persona_fills_later_requests_and_sends_its_own_message() -> None:
    adapter = WsJsonAdapter(
        minimal(
            request='{"q": "{prompt}", "persona": "{persona}"}',
            handshake='{"hello": true, "persona": "{persona}"}',
            persona_request={"switch": "{persona}"},
        )
    )
    assert adapter.supports_persona
    assert [json.loads(m) for m in adapter.handshake()] == [{"hello": True}]
    assert [json.loads(m) for m in adapter.persona("pirate")] == [{"switch": "pirate"}]
    assert json.loads(adapter.prompt("t1", "ahoy")[0]) == {"q": "ahoy", "persona": "pirate"}
    assert WsJsonAdapter(minimal()).persona("pirate") == []


def test_template_keeps_values_that_are_not_strings() -> None:
    template = Template("request", '{"a": 1, "b": [true, null, 2.5], "c": {"d": "x{prompt}"}}')
    assert json.loads(template.render({"prompt": "y"})) == {"a": 1, "b": [True, None, 2.5], "c": {"d": "xy"}}


# -- option errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"token": "text", "done": "end"}, "[adapter] request: required by protocol ws-json"),
        (minimal(token=None) | {"token": 3}, "[adapter] token: expected a JMESPath expression, got 3"),
        (minimal(done="type == "), "[adapter] done: invalid JMESPath expression 'type == ': "),
        (minimal(error="lenght(@) > `0`"), "[adapter] error: Unknown function: lenght() in"),
        (minimal(tokens="length(a, b)"), "[adapter] tokens: Expected 1 argument for function length()"),
        (minimal(request='{"q": {prompt}}'), "[adapter] request: expected a JSON template (placeholders go"),
        (minimal(request='{"q": "{promt}"}'), "[adapter] request: unknown placeholder {promt}; known here:"),
        (minimal(handshake='{"q": "{prompt}"}'), "[adapter] handshake: unknown placeholder {prompt}"),
        (minimal(request=5), "[adapter] request: expected a JSON object or array template, or a table, got 5"),
        (minimal(request='"{prompt}"'), "[adapter] request: expected a JSON object or array template, or a table"),
        (minimal(mismatch_after=0), "[adapter] mismatch_after: expected a positive integer, got 0"),
        (minimal(tokn="count"), "[adapter] tokn: unknown option for ws-json; known: request,"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        adapter_class("ws-json")(options)
    assert str(excinfo.value).startswith(message), str(excinfo.value)
    assert "\n" not in str(excinfo.value)


# -- incoming -----------------------------------------------------------------------------------


def test_a_native_turn_read_through_selectors(native: WsJsonAdapter) -> None:
    native.prompt("t1", "hello")
    events = feed(native, token(1, "tok0 "), token(2, "tok1 tok2 ", count=2), done(3, output=3))
    assert events == [
        Token("t1", "tok0 ", 1, None, None),
        Token("t1", "tok1 tok2 ", 2, None, None),
        Done("t1", None, 3, None, None),
    ]
    assert feed(native, token(4)) == []  # no turn in flight: nothing to stamp


def test_errors_read_through_selectors(native: WsJsonAdapter) -> None:
    native.prompt("t1", "hello")
    frame = '{"type":"error","code":"injected","message":"injected fault","id":"t1","ts":1.0}'
    assert feed(native, frame) == [Error("injected", "injected fault", "t1", False)]
    bare = WsJsonAdapter(minimal(error="err"))
    bare.prompt("t2", "x")
    assert bare.receive('{"err": true}') == [Error("error", '{"err": true}', "t2", False)]


def test_content_and_done_in_one_message_and_number_truthiness() -> None:
    adapter = WsJsonAdapter(minimal(done="end", usage="n"))
    adapter.prompt("t1", "x")
    assert feed(adapter, '{"text": "a"}', '{"text": "b", "end": 0, "n": 2}') == [
        Token("t1", "a", 1, None, None),
        Token("t1", "b", 1, None, None),
        Done("t1", None, 2, None, None),  # 0 is truthy in JMESPath
    ]


@pytest.mark.parametrize("value", ['""', "null", "false", "3", '["a"]', '{"t": 1}'])
def test_only_non_empty_strings_are_content(value: str) -> None:
    adapter = WsJsonAdapter(minimal(mismatch_after=100))
    adapter.prompt("t1", "x")
    assert adapter.receive(f'{{"text": {value}}}') == []


def test_a_selector_type_error_is_no_match() -> None:
    adapter = WsJsonAdapter(minimal(tokens="length(count)"))
    adapter.prompt("t1", "x")
    assert adapter.receive('{"text": "a", "count": 7}') == [Token("t1", "a", 1, None, None)]


@pytest.mark.parametrize(("frame", "code"), [(b"\x01", BINARY_FRAME), ("{oops", MALFORMED_FRAME)])
def test_frames_that_are_not_json_text_are_errors(frame: str | bytes, code: str) -> None:
    adapter = WsJsonAdapter(minimal())
    adapter.prompt("t1", "x")
    [event] = adapter.receive(frame)
    assert isinstance(event, Error) and event.code == code and event.turn_id == "t1" and not event.fatal


# -- the mismatch checks ------------------------------------------------------------------------


def test_a_token_selector_that_matches_nothing_stops_the_run() -> None:
    adapter = WsJsonAdapter(NATIVE | {"token": "type == 'token' && txt"})
    adapter.receive(SESSION)
    adapter.prompt("u1-1", "hello")
    events = feed(adapter, token(1, "tok0 ", turn="u1-1"), token(2, turn="u1-1"), done(3, turn="u1-1"))
    assert events == [
        Error(
            CONFIG_MISMATCH,
            "[adapter] token selector \"type == 'token' && txt\" matched nothing in the first response; "
            f"first message was: {token(1, 'tok0 ', turn='u1-1')}",
            "u1-1",
            True,
        )
    ]


def test_messages_that_match_no_selector_stop_the_run() -> None:
    adapter = WsJsonAdapter(minimal(mismatch_after=3, error="err"))
    adapter.prompt("t1", "x")
    assert feed(adapter, '{"a": 1}', '{"a": 2}') == []
    [event] = adapter.receive('{"a": 3}')
    assert event.code == CONFIG_MISMATCH and event.fatal and event.turn_id == "t1"
    assert event.message == (
        "[adapter] no selector (token 'text', done 'end', error 'err') matched 3 messages in a row; "
        'first message was: {"a": 1}'
    )


def test_a_matching_message_resets_the_count_and_a_good_response_ends_the_checks() -> None:
    adapter = WsJsonAdapter(minimal(mismatch_after=2))
    adapter.prompt("t1", "x")
    assert feed(adapter, '{"a": 1}', '{"text": "a"}', '{"a": 1}', '{"end": true}') == [
        Token("t1", "a", 1, None, None),
        Done("t1", None, None, None, None),
    ]
    assert feed(adapter, *['{"heartbeat": 1}'] * 10) == []  # checked: unknown messages are fine now
    adapter.prompt("t2", "y")
    assert feed(adapter, '{"end": true}') == [Done("t2", None, None, None, None)]


def test_a_long_first_message_is_quoted_short() -> None:
    adapter = WsJsonAdapter(minimal(mismatch_after=1))
    [event] = adapter.receive(json.dumps({"blob": "x" * 1000}))
    assert event.code == CONFIG_MISMATCH and event.message.endswith("...") and len(event.message) < 400


def test_no_per_instance_dict() -> None:
    assert not hasattr(WsJsonAdapter(minimal()), "__dict__")


def test_only_one_config_mismatch_is_reported() -> None:
    adapter = WsJsonAdapter(minimal(mismatch_after=3))
    adapter.prompt("t1", "x")
    events = feed(adapter, *['{"txt": "a"}'] * 7, '{"end": true}')
    assert [event.code for event in events if isinstance(event, Error)] == [CONFIG_MISMATCH]
    assert "matched 3 messages in a row" in events[0].message
