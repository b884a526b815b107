"""OpenAIRealtimeAdapter on literal frames: the session handshake, turns, errors, odd input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rtbench.errors import ConfigError
from rtbench.protocols.base import ADAPTERS, Wire, adapter_class
from rtbench.protocols.events import (
    BAD_FIELD,
    BINARY_FRAME,
    CONFIG_MISMATCH,
    MALFORMED_FRAME,
    UNKNOWN_FRAME_TYPE,
    Done,
    Error,
    PersonaChanged,
    SessionReady,
    Token,
)
from rtbench.protocols.openai_realtime import SESSION_EVENT_ID, OpenAIRealtimeAdapter

CREATED = (
    '{"type":"session.created","event_id":"event_1","session":{"id":"sess_ab","object":"realtime.session",'
    '"model":"rtref-realtime","modalities":["text"],"persona":"default"}}'
)
UPDATED = '{"type":"session.updated","event_id":"event_2","session":{"id":"sess_ab","persona":"default"}}'


def ev(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": "event_x", **fields})


def delta(text: str, response: str = "resp_1", kind: str = "response.output_text.delta") -> str:
    return ev(kind, response_id=response, item_id="item_2", output_index=0, content_index=0, delta=text)


def created(response: str = "resp_1") -> str:
    return ev("response.created", response={"id": response, "status": "in_progress"})


def done(response: str = "resp_1", status: str = "completed", **extra: Any) -> str:
    body = {"id": response, "status": status, "usage": {"input_tokens": 2, "output_tokens": 3}, **extra}
    return ev("response.done", response=body)


def error(code: str, message: str = "bad", about: str | None = None, kind: str = "invalid_request_error") -> str:
    body: dict[str, Any] = {"type": kind, "code": code, "message": message}
    if about is not None:
        body["event_id"] = about
    return ev("error", error=body)


@pytest.fixture
def ready() -> OpenAIRealtimeAdapter:
    """An adapter whose session is ready."""
    adapter = OpenAIRealtimeAdapter()
    assert adapter.receive(CREATED) == []
    assert adapter.receive(UPDATED) == [SessionReady("sess_ab", "", "default")]
    return adapter


def feed(adapter: OpenAIRealtimeAdapter, *frames: str) -> list:
    return [event for frame in frames for event in adapter.receive(frame)]


# -- options and outgoing messages ---------------------------------------------------------------


def test_registered_with_its_contract() -> None:
    assert ADAPTERS["openai-realtime"] is OpenAIRealtimeAdapter
    adapter = adapter_class("openai-realtime")({})
    assert adapter.wire is Wire.MESSAGES and adapter.awaits_ready and adapter.supports_persona
    assert not adapter.supports_resume


def test_handshake_asks_for_text_in_the_ga_shape_by_default() -> None:
    adapter = OpenAIRealtimeAdapter({"instructions": "Be brief.", "voice": "alloy", "model": "m1"})
    [message] = adapter.handshake()
    assert json.loads(message) == {
        "type": "session.update",
        "event_id": SESSION_EVENT_ID,
        "session": {
            "type": "realtime",
            "output_modalities": ["text"],
            "model": "m1",
            "instructions": "Be brief.",
            "audio": {"output": {"voice": "alloy"}},
        },
    }


def test_beta_shape_and_extra_session_fields() -> None:
    adapter = OpenAIRealtimeAdapter({"api": "beta", "voice": "alloy", "session": {"temperature": 0.7}})
    session = json.loads(adapter.handshake()[0])["session"]
    assert session == {"modalities": ["text"], "voice": "alloy", "temperature": 0.7}
    assert json.loads(OpenAIRealtimeAdapter().handshake()[0])["session"] == {
        "type": "realtime",
        "output_modalities": ["text"],
    }


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modality": "text"}, "[adapter] modality: unknown option for openai-realtime"),
        ({"api": "v2"}, '[adapter] api: expected "ga" or "beta"'),
        ({"model": 4}, "[adapter] model: expected a string, got 4"),
        ({"session": "x"}, "[adapter] session: expected a table"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        adapter_class("openai-realtime")(options)
    assert str(excinfo.value).startswith(message) and "\n" not in str(excinfo.value)


def test_a_turn_is_an_item_and_a_response_create() -> None:
    adapter = OpenAIRealtimeAdapter()
    item, response = (json.loads(m) for m in adapter.prompt("t1", 'say "hi"\n'))
    assert item == {
        "type": "conversation.item.create",
        "event_id": "t1.item",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": 'say "hi"\n'}]},
    }
    assert response == {"type": "response.create", "event_id": "t1.response"}
    assert json.loads(adapter.prompt("t2", "x", 16)[1])["response"] == {"max_output_tokens": 16}


def test_persona_switch_updates_the_session_and_reports_the_change(ready: OpenAIRealtimeAdapter) -> None:
    [message] = ready.persona("pirate")
    assert json.loads(message) == {
        "type": "session.update",
        "event_id": SESSION_EVENT_ID,
        "session": {"type": "realtime", "persona": "pirate"},
    }
    updated = ev("session.updated", session={"id": "sess_ab", "persona": "pirate"})
    assert ready.receive(updated) == [PersonaChanged("pirate", None)]
    assert ready.receive(updated) == []  # nothing pending: not a change


# -- the session --------------------------------------------------------------------------------


def test_ready_only_once_session_updated_arrives() -> None:
    adapter = OpenAIRealtimeAdapter()
    assert adapter.receive(CREATED) == []
    assert adapter.receive(ev("conversation.created", conversation={"id": "c"})) == []
    assert adapter.receive(UPDATED) == [SessionReady("sess_ab", "", "default")]


def test_a_rejected_session_update_stops_the_run() -> None:
    adapter = OpenAIRealtimeAdapter({"model": "gpt-x"})
    adapter.receive(CREATED)
    rejected = error("invalid_session_config", "The session model cannot be changed")
    [event] = adapter.receive(rejected)
    assert event == Error(
        CONFIG_MISMATCH,
        "[adapter] the server rejected session.update: invalid_session_config: The session model cannot be changed",
        None,
        True,
    )


def test_a_rejected_persona_switch_is_a_plain_error(ready: OpenAIRealtimeAdapter) -> None:
    ready.persona("ghost")
    [event] = ready.receive(error("unknown_persona", "no persona 'ghost'", about=SESSION_EVENT_ID))
    assert event == Error("unknown_persona", "no persona 'ghost'", None, False)


# -- turns --------------------------------------------------------------------------------------


def test_a_whole_turn(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    events = feed(
        ready,
        ev("conversation.item.created", item={"id": "item_1"}),
        created(),
        ev("response.output_item.added", response_id="resp_1", item={"id": "item_2"}),
        delta("tok0 "),
        delta(""),  # no content: no token
        ev("rate_limits.updated", rate_limits=[]),
        delta("tok1 ", kind="response.text.delta"),  # the beta name
        ev("response.output_text.done", response_id="resp_1", text="tok0 tok1 "),
        done(),
    )
    assert events == [
        Token("t1", "tok0 ", 1, None, None),
        Token("t1", "tok1 ", 1, None, None),
        Done("t1", None, 3, 2, None),
    ]
    assert feed(ready, delta("late ")) == []  # after response.done nothing belongs to t1


def test_a_zero_usage_after_text_means_not_reported(ready: OpenAIRealtimeAdapter) -> None:
    """Some servers (aimock) send usage 0/0 whatever they streamed: count the deltas instead."""
    ready.prompt("t1", "hello")
    zero = ev("response.done", response={"id": "resp_1", "status": "completed", "usage": {"output_tokens": 0}})
    events = feed(ready, created(), delta("a"), delta("b"), zero)
    assert events[-1] == Done("t1", None, None, None, None)


def test_audio_and_transcripts_are_not_content(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    events = feed(
        ready,
        created(),
        delta("aGVsbG8=", kind="response.output_audio.delta"),
        delta("hel", kind="response.audio_transcript.delta"),
        delta("hello"),
        done(),
    )
    assert [type(e) for e in events] == [Token, Done] and events[0].text == "hello"


def test_a_first_response_in_audio_only_is_a_config_mismatch(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    [event] = feed(ready, created(), delta("hel", kind="response.output_audio_transcript.delta"), done())
    assert event.code == CONFIG_MISMATCH and event.fatal and event.turn_id == "t1"
    assert "came as audio without text" in event.message and "output_modalities" in event.message


def test_events_of_another_response_are_ignored(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "one")
    feed(ready, created("resp_1"), delta("a"), done("resp_1"))
    ready.prompt("t2", "two")
    # A late delta of t1's response arrives before t2's response.created: not t2's first token.
    assert feed(ready, delta("stale", "resp_1")) == []
    assert feed(ready, created("resp_2"), delta("b", "resp_2"), delta("x", "resp_9"), done("resp_9")) == [
        Token("t2", "b", 1, None, None)
    ]
    assert feed(ready, done("resp_2")) == [Done("t2", None, 3, 2, None)]


def test_a_server_without_response_created_still_maps_responses(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "one")
    assert feed(ready, delta("a", "r7"), delta("b", "r8"), done("r7")) == [
        Token("t1", "a", 1, None, None),
        Done("t1", None, 3, 2, None),
    ]


@pytest.mark.parametrize(
    ("status", "details", "code", "text"),
    [
        (
            "failed",
            {"type": "error", "error": {"code": "no_fixture_match", "message": "No fixture"}},
            "no_fixture_match",
            "response failed: No fixture",
        ),
        (
            "cancelled",
            {"type": "cancelled", "reason": "client_cancelled"},
            "response_cancelled",
            "response cancelled: client_cancelled",
        ),
        (
            "incomplete",
            {"type": "incomplete", "reason": "content_filter"},
            "response_incomplete",
            "response incomplete: content_filter",
        ),
    ],
)
def test_an_unfinished_response_is_an_error(
    ready: OpenAIRealtimeAdapter, status: str, details: dict, code: str, text: str
) -> None:
    ready.prompt("t1", "hello")
    assert feed(ready, created(), done(status=status, status_details=details)) == [Error(code, text, "t1", False)]


def test_a_response_cut_at_the_requested_cap_is_done(ready: OpenAIRealtimeAdapter) -> None:
    details = {"type": "incomplete", "reason": "max_output_tokens"}
    ready.prompt("t1", "hello", 3)
    assert feed(ready, created(), delta("a"), done(status="incomplete", status_details=details))[-1] == Done(
        "t1", None, 3, 2, None
    )
    ready.prompt("t2", "hello")  # no cap asked for: the same end is an error
    [event] = feed(ready, created("resp_2"), done("resp_2", status="incomplete", status_details=details))
    assert isinstance(event, Error) and event.code == "response_incomplete"


def test_an_error_event_fails_the_turn_once(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    events = feed(
        ready,
        created(),
        delta("a"),
        error("injected", "injected fault: the response failed", kind="server_error"),
        done(status="failed"),
    )
    assert events[1:] == [Error("injected", "injected fault: the response failed", "t1", False)]
    ready.prompt("t2", "again")
    assert feed(ready, created("resp_2"), delta("b", "resp_2"))[0].turn_id == "t2"


def test_a_rejected_response_create_ends_the_turn(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    busy = error("conversation_already_has_active_response", "a response is in progress", about="t1.response")
    assert feed(ready, busy) == [
        Error("conversation_already_has_active_response", "a response is in progress", "t1", False)
    ]
    assert feed(ready, created("resp_0"), delta("x", "resp_0")) == []  # someone else's response


def test_a_rejected_item_fails_the_turn_and_its_response_is_absorbed(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    rejected = error("bad_request", "every content part needs a string 'text'", about="t1.item")
    assert feed(ready, rejected) == [Error("bad_request", "every content part needs a string 'text'", "t1", False)]
    assert feed(ready, created(), delta("a"), done()) == [Token("t1", "a", 1, None, None)]  # no Done after
    ready.prompt("t2", "again")
    assert feed(ready, created("resp_2"), done("resp_2")) == [Done("t2", None, 3, 2, None)]


def test_fatal_server_errors_and_errors_between_turns(ready: OpenAIRealtimeAdapter) -> None:
    assert feed(ready, error("bad_json", "not JSON")) == [Error("bad_json", "not JSON", None, False)]
    ready.prompt("t1", "hello")
    assert feed(ready, error("shutting_down", "the server is stopping")) == [
        Error("shutting_down", "the server is stopping", "t1", True)
    ]


def test_error_code_falls_back_to_the_error_type(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    frame = ev("error", error={"type": "server_error", "code": None, "message": "boom"})
    assert feed(ready, frame) == [Error("server_error", "boom", "t1", False)]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00\x01", BINARY_FRAME),
        ("{not json", MALFORMED_FRAME),
        ("[1, 2]", MALFORMED_FRAME),
        ('{"event_id": "e"}', UNKNOWN_FRAME_TYPE),
        ('{"type": "session.created"}', BAD_FIELD),
        ('{"type": "response.done", "response": 3}', BAD_FIELD),
    ],
)
def test_bad_frames_become_errors(frame: str | bytes, code: str) -> None:
    adapter = OpenAIRealtimeAdapter()
    adapter.prompt("t1", "hello")
    [event] = adapter.receive(frame)
    assert isinstance(event, Error) and event.code == code and event.turn_id == "t1" and not event.fatal


def test_a_delta_that_is_not_text_is_a_bad_field(ready: OpenAIRealtimeAdapter) -> None:
    ready.prompt("t1", "hello")
    [event] = feed(ready, created(), ev("response.output_text.delta", response_id="resp_1", delta=5))
    assert isinstance(event, Error) and event.code == BAD_FIELD and "'delta' must be a string" in event.message


def test_unknown_event_types_are_ignored(ready: OpenAIRealtimeAdapter) -> None:
    assert feed(ready, ev("input_audio_buffer.speech_started"), ev("rate_limits.updated")) == []


def test_no_per_instance_dict() -> None:
    assert not hasattr(OpenAIRealtimeAdapter(), "__dict__")
