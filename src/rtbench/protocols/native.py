"""The reference server's native chat protocol on `/ws` (see reference_server/PROTOCOL.md).

All messages are JSON text frames with a `type`. `token`, `done` and `persona` frames carry a
per-session `seq` starting at 1; the adapter tracks the last one seen so a dropped connection can
resume after it, reports a skipped range as a `seq_gap` error, and drops (and counts) duplicates.

Nearly every frame is a token, so `receive` parses with orjson (0.4 µs for a token frame; the
standard library's json, 2.1 µs) and builds an in-order, well-formed token's event inline; every
other frame takes the general path through `_HANDLERS` (benchmarks/frame_path.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from rtbench.protocols.base import ProtocolAdapter, register_adapter
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import (
    BAD_FIELD,
    BINARY_FRAME,
    MALFORMED_FRAME,
    SEQ_GAP,
    UNKNOWN_FRAME_TYPE,
    Done,
    Error,
    Event,
    PersonaChanged,
    Resumed,
    SessionReady,
    Token,
)
from rtbench.protocols.fields import MAX_COUNT, BadField, code_of, count_or_none, frame_count, text_of

__all__ = ["NativeAdapter", "FATAL_SERVER_CODES"]

#: Server error codes after which the server closes the connection.
FATAL_SERVER_CODES = frozenset({"too_large", "bad_utf8", "shutting_down"})

_loads = orjson.loads  # orjson.JSONDecodeError is a ValueError
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _local_error(code: str, message: str, turn_id: str | None = None) -> list[Event]:
    return [Error(code, message, turn_id, False)]


def _int_field(msg: dict[str, Any], key: str, least: int = 0) -> int:
    value = msg[key]
    if type(value) is not int or value < least:
        raise BadField(f"field {key!r} must be an integer of at least {least}, not {value!r:.40}")
    return value


def _str_field(msg: dict[str, Any], key: str) -> str:
    value = msg[key]
    if type(value) is not str:
        raise BadField(f"field {key!r} must be a string, not {type(value).__name__}")
    return value


def _optional_str(msg: dict[str, Any], key: str) -> str | None:
    value = msg.get(key)
    if value is not None and type(value) is not str:
        raise BadField(f"field {key!r} must be a string, not {type(value).__name__}")
    return value


@register_adapter
class NativeAdapter(ProtocolAdapter):
    """Sans-I/O client side of the native `/ws` chat protocol, one instance per session."""

    name = "native"
    supports_persona = True
    supports_resume = True
    sends_context = True
    keeps_context = True

    __slots__ = ("last_seq", "duplicates")

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        #: The highest `seq` received so far (0 before any); send it in a `resume`.
        self.last_seq = 0
        #: Frames dropped because their `seq` was not above `last_seq`.
        self.duplicates = 0

    # -- outgoing -----------------------------------------------------------------------------

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        msg: dict[str, Any] = {"type": "prompt", "id": turn_id, "text": text}
        if self.last_seq:
            msg["ack"] = self.last_seq  # lets the server drop replay frames we already hold
        if max_tokens is not None:
            msg["max_tokens"] = max_tokens
        return [_dumps(msg)]

    def converse(self, turn_id: str, context: TurnContext, max_tokens: int | None = None) -> list[str]:
        """The prompt of a conversation's turn; the server keeps the context (PROTOCOL.md): `reset`
        starts a conversation, `system` changes the system prompt, `keep_turns` says how many
        earlier turns the context keeps (the client's window and token bound)."""
        msg: dict[str, Any] = {"type": "prompt", "id": turn_id, "text": context.user}
        if self.last_seq:
            msg["ack"] = self.last_seq
        if max_tokens is not None:
            msg["max_tokens"] = max_tokens
        if context.new_conversation:
            msg["reset"] = True
        if context.system is not None and context.system_changed:
            msg["system"] = context.system
        msg["keep_turns"] = context.kept_turns
        return [_dumps(msg)]

    def persona(self, name: str) -> list[str]:
        return [_dumps({"type": "persona", "persona": name})]

    def resume(self, token: str, last_seq: int) -> list[str]:
        """The resume request; replayed frames will be checked against `last_seq`."""
        self.last_seq = last_seq
        return [_dumps({"type": "resume", "resume_token": token, "last_seq": last_seq})]

    # -- incoming -----------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> list[Event]:
        if type(frame) is not str:
            return _local_error(BINARY_FRAME, f"unexpected binary frame of {len(frame)} bytes")
        try:
            msg = _loads(frame)
        except (ValueError, RecursionError) as exc:
            return _local_error(MALFORMED_FRAME, f"invalid JSON: {exc}")
        if type(msg) is not dict:
            return _local_error(MALFORMED_FRAME, f"a JSON {type(msg).__name__}, not an object")
        kind = msg.get("type")
        if kind == "token":  # the hot path: the next token of the session, with every field right
            seq, count, turn_id, text = msg.get("seq"), msg.get("count"), msg.get("id"), msg.get("text")
            if (
                type(seq) is int
                and seq == self.last_seq + 1
                and type(count) is int
                and 0 < count <= MAX_COUNT
                and type(turn_id) is str
                and type(text) is str
            ):
                self.last_seq = seq
                ts = msg.get("ts")
                return [Token(turn_id, text, count, seq, ts if type(ts) is float else _timestamp(ts))]
        handler = _HANDLERS.get(kind) if type(kind) is str else None
        if handler is None:
            return _local_error(UNKNOWN_FRAME_TYPE, text_of(f"unknown frame type {kind!r}"), _turn(msg))
        try:
            return handler(self, msg)
        except KeyError as exc:
            self._skip_seq(msg)
            return _local_error(BAD_FIELD, text_of(f"{kind} frame lacks field {exc}"), _turn(msg))
        except (TypeError, ValueError, AttributeError) as exc:
            self._skip_seq(msg)
            return _local_error(BAD_FIELD, text_of(f"{kind} frame: {exc}"), _turn(msg))

    def _skip_seq(self, msg: dict[str, Any]) -> None:
        """A sequenced frame rejected for another field still takes its number: the next frame
        is no gap."""
        seq = msg.get("seq")
        if type(seq) is int and seq > self.last_seq and msg.get("type") in ("token", "done", "persona"):
            self.last_seq = seq

    def _sequenced(self, seq: int, event: Token | Done | PersonaChanged) -> list[Event]:
        """`event` if `seq` follows on; nothing for a duplicate; a gap error first for a gap."""
        last = self.last_seq
        if seq == last + 1:
            self.last_seq = seq
            return [event]
        if seq <= last:
            self.duplicates += 1
            return []
        self.last_seq = seq
        turn_id = None if isinstance(event, PersonaChanged) else event.turn_id
        gap = Error(SEQ_GAP, f"frames {last + 1}..{seq - 1} missing", turn_id, False)
        return [gap, event]

    def _on_token(self, msg: dict[str, Any]) -> list[Event]:
        seq = _int_field(msg, "seq", 1)
        count = frame_count(msg["count"], "field 'count'")
        token = Token(_str_field(msg, "id"), _str_field(msg, "text"), count, seq, _timestamp(msg.get("ts")))
        return self._sequenced(seq, token)

    def _on_done(self, msg: dict[str, Any]) -> list[Event]:
        seq = _int_field(msg, "seq", 1)
        usage = msg.get("usage")
        if usage is None:
            usage = {}
        elif type(usage) is not dict:
            raise BadField(f"field 'usage' must be an object, not {type(usage).__name__}")
        done = Done(
            _str_field(msg, "id"),
            seq,
            count_or_none(usage.get("output_tokens"), "usage.output_tokens"),
            count_or_none(usage.get("input_tokens"), "usage.input_tokens"),
            _timestamp(msg.get("ts")),
            _optional_str(msg, "persona"),
        )
        return self._sequenced(seq, done)

    def _on_persona(self, msg: dict[str, Any]) -> list[Event]:
        seq = _int_field(msg, "seq", 1)
        return self._sequenced(seq, PersonaChanged(_str_field(msg, "persona"), seq))

    def _on_session(self, msg: dict[str, Any]) -> list[Event]:
        ready = SessionReady(
            _str_field(msg, "session_id"), _str_field(msg, "resume_token"), _optional_str(msg, "persona")
        )
        self.last_seq = 0  # a fresh session numbers its frames from 1
        return [ready]

    def _on_resumed(self, msg: dict[str, Any]) -> list[Event]:
        last_seq = _int_field(msg, "last_seq")
        event = Resumed(_str_field(msg, "session_id"), last_seq, _int_field(msg, "replayed"))
        self.last_seq = last_seq
        return [event]

    def _on_error(self, msg: dict[str, Any]) -> list[Event]:
        code = code_of(msg.get("code"))
        if code is None:
            raise BadField(f"field 'code' must be a non-empty string, not {msg.get('code')!r:.40}")
        if code == "resume_failed":
            self.last_seq = 0  # the server carries on with a fresh session
        message = msg.get("message")
        return [Error(code, "" if message is None else text_of(message), _turn(msg), code in FATAL_SERVER_CODES)]


def _turn(msg: dict[str, Any]) -> str | None:
    """The frame's turn id, None when it has none or not a string (then it concerns the session)."""
    turn_id = msg.get("id")
    return turn_id if type(turn_id) is str else None


def _timestamp(value: object) -> float | None:
    """The server's `ts`: a number, or None for anything else (it is informative only)."""
    return float(value) if type(value) is float or type(value) is int else None


_HANDLERS: dict[str, Callable[[NativeAdapter, dict[str, Any]], list[Event]]] = {
    "token": NativeAdapter._on_token,
    "done": NativeAdapter._on_done,
    "persona": NativeAdapter._on_persona,
    "session": NativeAdapter._on_session,
    "resumed": NativeAdapter._on_resumed,
    "error": NativeAdapter._on_error,
}
