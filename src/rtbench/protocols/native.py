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

__all__ = ["NativeAdapter", "FATAL_SERVER_CODES"]

#: Server error codes after which the server closes the connection.
FATAL_SERVER_CODES = frozenset({"too_large", "bad_utf8", "shutting_down"})

_loads = orjson.loads  # orjson.JSONDecodeError is a ValueError
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _local_error(code: str, message: str, turn_id: str | None = None) -> list[Event]:
    return [Error(code, message, turn_id, False)]


def _int_field(msg: dict[str, Any], key: str) -> int:
    value = msg[key]
    if type(value) is not int:
        raise TypeError(f"field {key!r} must be an integer, not {type(value).__name__}")
    return value


@register_adapter
class NativeAdapter(ProtocolAdapter):
    """Sans-I/O client side of the native `/ws` chat protocol, one instance per session."""

    name = "native"
    supports_persona = True
    supports_resume = True

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
            seq, count = msg.get("seq"), msg.get("count")
            if type(seq) is int and type(count) is int and seq == self.last_seq + 1 and "id" in msg and "text" in msg:
                self.last_seq = seq
                return [Token(msg["id"], msg["text"], count, seq, msg.get("ts"))]
        handler = _HANDLERS.get(kind) if type(kind) is str else None
        if handler is None:
            return _local_error(UNKNOWN_FRAME_TYPE, f"unknown frame type {kind!r}")
        try:
            return handler(self, msg)
        except KeyError as exc:
            return _local_error(BAD_FIELD, f"{kind} frame lacks field {exc}", _turn(msg))
        except (TypeError, ValueError, AttributeError) as exc:
            return _local_error(BAD_FIELD, f"{kind} frame: {exc}", _turn(msg))

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
        seq = _int_field(msg, "seq")
        count = _int_field(msg, "count")
        return self._sequenced(seq, Token(msg["id"], msg["text"], count, seq, msg.get("ts")))

    def _on_done(self, msg: dict[str, Any]) -> list[Event]:
        seq = _int_field(msg, "seq")
        usage = msg.get("usage") or {}
        done = Done(
            msg["id"],
            seq,
            usage.get("output_tokens"),
            usage.get("input_tokens"),
            msg.get("ts"),
            msg.get("persona"),
        )
        return self._sequenced(seq, done)

    def _on_persona(self, msg: dict[str, Any]) -> list[Event]:
        seq = _int_field(msg, "seq")
        return self._sequenced(seq, PersonaChanged(msg["persona"], seq))

    def _on_session(self, msg: dict[str, Any]) -> list[Event]:
        self.last_seq = 0  # a fresh session numbers its frames from 1
        return [SessionReady(msg["session_id"], msg["resume_token"], msg.get("persona"))]

    def _on_resumed(self, msg: dict[str, Any]) -> list[Event]:
        last_seq = _int_field(msg, "last_seq")
        event = Resumed(msg["session_id"], last_seq, _int_field(msg, "replayed"))
        self.last_seq = last_seq
        return [event]

    def _on_error(self, msg: dict[str, Any]) -> list[Event]:
        code = msg["code"]
        if code == "resume_failed":
            self.last_seq = 0  # the server carries on with a fresh session
        return [Error(code, msg["message"], msg.get("id"), code in FATAL_SERVER_CODES)]


def _turn(msg: dict[str, Any]) -> str | None:
    turn_id = msg.get("id")
    return turn_id if type(turn_id) is str else None


_HANDLERS: dict[str, Callable[[NativeAdapter, dict[str, Any]], list[Event]]] = {
    "token": NativeAdapter._on_token,
    "done": NativeAdapter._on_done,
    "persona": NativeAdapter._on_persona,
    "session": NativeAdapter._on_session,
    "resumed": NativeAdapter._on_resumed,
    "error": NativeAdapter._on_error,
}
