"""NativeAdapter on literal frames: every event type, every kind of bad input, seq tracking."""

from __future__ import annotations

import json

import pytest

from rtbench.protocols.base import adapter_class
from rtbench.protocols.events import (
    BAD_FIELD,
    BINARY_FRAME,
    MALFORMED_FRAME,
    SEQ_GAP,
    UNKNOWN_FRAME_TYPE,
    Done,
    Error,
    PersonaChanged,
    Resumed,
    SessionReady,
    Token,
)
from rtbench.protocols.native import NativeAdapter

SESSION = '{"type":"session","session_id":"s-1f3a","resume_token":"r-9c","persona":"default","ts":1764290000.123456}'


def token(seq: int, turn: str = "t1", text: str = "tok ", count: int = 1) -> str:
    return json.dumps({"type": "token", "id": turn, "seq": seq, "text": text, "count": count, "ts": 1.5})


def only_error(events: list) -> Error:
    assert len(events) == 1 and isinstance(events[0], Error), events
    return events[0]


@pytest.fixture
def adapter() -> NativeAdapter:
    return NativeAdapter()


# -- outgoing -------------------------------------------------------------------------------


def test_outgoing_messages_follow_the_protocol(adapter: NativeAdapter) -> None:
    assert adapter.handshake() == []
    assert [json.loads(m) for m in adapter.prompt("t1", "hello")] == [{"type": "prompt", "id": "t1", "text": "hello"}]
    assert json.loads(adapter.prompt("t2", "hi", 32)[0])["max_tokens"] == 32
    assert json.loads(adapter.persona("pirate")[0]) == {"type": "persona", "persona": "pirate"}
    assert json.loads(adapter.resume("r-9c", 7)[0]) == {
        "type": "resume",
        "resume_token": "r-9c",
        "last_seq": 7,
    }


def test_prompt_acknowledges_the_frames_received(adapter: NativeAdapter) -> None:
    adapter.receive(json.dumps({"type": "token", "id": "t1", "seq": 1, "text": "a", "count": 1, "ts": 1.0}))
    adapter.receive(
        json.dumps({"type": "done", "id": "t1", "seq": 2, "usage": {"input_tokens": 1, "output_tokens": 1}, "ts": 1.0})
    )
    assert json.loads(adapter.prompt("t2", "again")[0])["ack"] == 2


def test_non_ascii_prompt_is_sent_as_utf8_text(adapter: NativeAdapter) -> None:
    (message,) = adapter.prompt("t1", "héllo ✓")
    assert "héllo ✓" in message


# -- every event type -----------------------------------------------------------------------


def test_protocol_example_conversation(adapter: NativeAdapter) -> None:
    frames = [
        SESSION,
        '{"type":"token","id":"t1","seq":1,"text":"tok0 ","count":1,"ts":1764290000.173501}',
        '{"type":"token","id":"t1","seq":2,"text":"tok1 tok2 ","count":2,"ts":1764290000.18}',
        '{"type":"done","id":"t1","seq":3,"usage":{"input_tokens":1,"output_tokens":3},'
        '"persona":"default","ts":1764290000.183620}',
    ]
    events = [event for frame in frames for event in adapter.receive(frame)]
    assert events == [
        SessionReady("s-1f3a", "r-9c", "default"),
        Token("t1", "tok0 ", 1, 1, 1764290000.173501),
        Token("t1", "tok1 tok2 ", 2, 2, 1764290000.18),
        Done("t1", 3, 3, 1, 1764290000.183620, "default"),
    ]
    assert adapter.last_seq == 3
    assert adapter.duplicates == 0


def test_done_without_usage_reports_unknown_token_counts(adapter: NativeAdapter) -> None:
    assert adapter.receive('{"type":"done","id":"t1","seq":1}') == [Done("t1", 1, None, None, None, None)]


def test_persona_and_resumed(adapter: NativeAdapter) -> None:
    assert adapter.receive('{"type":"persona","persona":"pirate","seq":1,"ts":2.0}') == [PersonaChanged("pirate", 1)]
    assert adapter.receive('{"type":"resumed","session_id":"s-1","last_seq":5,"replayed":2,"ts":3.0}') == [
        Resumed("s-1", 5, 2)
    ]
    assert adapter.last_seq == 5
    assert adapter.receive(token(6)) == [Token("t1", "tok ", 1, 6, 1.5)]


def test_server_errors_pass_through_with_fatality(adapter: NativeAdapter) -> None:
    (error,) = adapter.receive('{"type":"error","code":"injected","message":"fault","id":"t3","ts":1.0}')
    assert error == Error("injected", "fault", "t3", False)
    (error,) = adapter.receive('{"type":"error","code":"shutting_down","message":"bye"}')
    assert error == Error("shutting_down", "bye", None, True)


def test_adapter_is_selected_by_name() -> None:
    assert adapter_class("native") is NativeAdapter


# -- bad input becomes Error events ---------------------------------------------------------


@pytest.mark.parametrize(
    "frame", ['{"type":"token",', "not json", "", "{'type': 'pong'}", "NaN", '{"type":"pong","id":"\\ud800"}']
)
def test_malformed_json(adapter: NativeAdapter, frame: str) -> None:
    error = only_error(adapter.receive(frame))
    assert error.code == MALFORMED_FRAME and not error.fatal
    assert "invalid JSON" in error.message


@pytest.mark.parametrize("frame", ["[1, 2]", '"token"', "42", "null"])
def test_non_object_json(adapter: NativeAdapter, frame: str) -> None:
    error = only_error(adapter.receive(frame))
    assert error.code == MALFORMED_FRAME and "not an object" in error.message


@pytest.mark.parametrize("frame", ['{"type":"telemetry"}', '{"id":"t1"}', '{"type":null}', '{"type":["token"]}'])
def test_unknown_or_missing_type(adapter: NativeAdapter, frame: str) -> None:
    assert only_error(adapter.receive(frame)).code == UNKNOWN_FRAME_TYPE


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ('{"type":"token","id":"t1","text":"x","count":1}', "seq"),
        ('{"type":"token","id":"t1","seq":1,"count":1}', "text"),
        ('{"type":"token","seq":1,"text":"x","count":1}', "id"),
        ('{"type":"done","seq":1}', "id"),
        ('{"type":"session","session_id":"s"}', "resume_token"),
        ('{"type":"persona","seq":1}', "persona"),
        ('{"type":"resumed","session_id":"s","replayed":0}', "last_seq"),
        ('{"type":"error","message":"m"}', "code"),
    ],
)
def test_missing_fields(adapter: NativeAdapter, frame: str, field: str) -> None:
    error = only_error(adapter.receive(frame))
    assert error.code == BAD_FIELD and field in error.message
    assert adapter.last_seq == (1 if '"seq":1' in frame else 0)  # a rejected frame still takes its number


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"token","id":"t1","seq":"1","text":"x","count":1}',
        '{"type":"token","id":"t1","seq":1,"text":"x","count":"2"}',
        '{"type":"token","id":"t1","seq":true,"text":"x","count":1}',
        '{"type":"done","id":"t1","seq":1,"usage":[1,2]}',
    ],
)
def test_fields_of_the_wrong_type(adapter: NativeAdapter, frame: str) -> None:
    error = only_error(adapter.receive(frame))
    assert error.code == BAD_FIELD
    assert error.turn_id == "t1"
    assert adapter.last_seq == (1 if '"seq":1' in frame else 0)


@pytest.mark.parametrize("frame", [b'{"type":"pong","id":"p1"}', b"\x00\x01", bytearray(b"x")])
def test_binary_frames_are_rejected(adapter: NativeAdapter, frame: bytes) -> None:
    error = only_error(adapter.receive(frame))
    assert error.code == BINARY_FRAME and str(len(frame)) in error.message


def test_deeply_nested_json_is_an_error_not_a_crash(adapter: NativeAdapter) -> None:
    assert only_error(adapter.receive("[" * 100_000)).code == MALFORMED_FRAME


# -- sequence tracking ----------------------------------------------------------------------


def test_seq_gap_is_reported_before_the_frame_that_reveals_it(adapter: NativeAdapter) -> None:
    adapter.receive(token(1))
    events = adapter.receive(token(4, turn="t9"))
    assert events[0] == Error(SEQ_GAP, "frames 2..3 missing", "t9", False)
    assert events[1] == Token("t9", "tok ", 1, 4, 1.5)
    assert adapter.last_seq == 4
    assert adapter.receive(token(5)) == [Token("t1", "tok ", 1, 5, 1.5)]  # reported once


def test_gap_in_persona_frames_has_no_turn(adapter: NativeAdapter) -> None:
    events = adapter.receive('{"type":"persona","persona":"p","seq":3}')
    assert events == [Error(SEQ_GAP, "frames 1..2 missing", None, False), PersonaChanged("p", 3)]


def test_duplicates_are_dropped_and_counted(adapter: NativeAdapter) -> None:
    for seq in (1, 2):
        adapter.receive(token(seq))
    assert adapter.receive(token(2)) == []
    assert adapter.receive(token(1)) == []
    assert adapter.receive('{"type":"done","id":"t1","seq":2}') == []
    assert adapter.duplicates == 3 and adapter.last_seq == 2
    assert adapter.receive('{"type":"done","id":"t1","seq":3}')[0].seq == 3


def test_resume_sets_the_replay_base(adapter: NativeAdapter) -> None:
    for seq in (1, 2, 3):
        adapter.receive(token(seq))
    fresh = NativeAdapter()
    fresh.resume("r-9c", adapter.last_seq)
    assert fresh.receive(token(3)) == []  # already seen before the drop
    assert fresh.receive(token(4)) == [Token("t1", "tok ", 1, 4, 1.5)]
    assert fresh.duplicates == 1


def test_a_new_session_restarts_the_numbering(adapter: NativeAdapter) -> None:
    adapter.receive(token(1))
    adapter.receive(token(2))
    adapter.receive(SESSION)
    assert adapter.last_seq == 0
    assert adapter.receive(token(1)) == [Token("t1", "tok ", 1, 1, 1.5)]


def test_failed_resume_restarts_the_numbering(adapter: NativeAdapter) -> None:
    adapter.resume("r-old", 40)
    events = adapter.receive('{"type":"error","code":"resume_failed","message":"expired"}')
    assert events == [Error("resume_failed", "expired", None, False)]
    assert adapter.receive(token(1)) == [Token("t1", "tok ", 1, 1, 1.5)]
    assert adapter.duplicates == 0
