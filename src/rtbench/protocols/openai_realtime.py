"""The OpenAI Realtime WebSocket protocol, text only (reference_server/PROTOCOL.md, `/v1/realtime`).

Session: the server opens with `session.created`; the handshake sends one `session.update` asking
for text output (plus the `[adapter]` model, instructions and voice), and the session is ready when
the server answers `session.updated`. Waiting for that answer costs one round trip outside every
turn, and buys two things: the first turn runs under the configuration the scenario asked for (not
the server's default audio output), and a rejected configuration stops the run as one
`config_mismatch` line instead of failing every turn.

A turn is `conversation.item.create` (the user text) plus `response.create`. The server names the
response with its own id in `response.created`; the adapter binds that id to the client turn in
flight and stamps the client's turn id on the response's events. Content is
`response.output_text.delta` (and its beta name `response.text.delta`). Audio and audio
transcripts are not content: a transcript delta trails the audio it transcribes, so timing TTFT by
it would be wrong. A first response that brings audio but no text is a `config_mismatch`.
`response.done` ends the turn: `completed` is a `Done`, any other status an `Error`. Unknown event
types are ignored (the protocol has many: rate limits, items, content parts).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from rtbench.errors import ConfigError
from rtbench.protocols.base import ProtocolAdapter, register_adapter
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import (
    BAD_FIELD,
    BINARY_FRAME,
    CONFIG_MISMATCH,
    MALFORMED_FRAME,
    UNKNOWN_FRAME_TYPE,
    Done,
    Error,
    Event,
    PersonaChanged,
    SessionReady,
    Token,
)
from rtbench.protocols.fields import BadField, code_of, count_or_none, text_of
from rtbench.protocols.native import FATAL_SERVER_CODES
from rtbench.protocols.realtime_items import ItemLedger

__all__ = ["OpenAIRealtimeAdapter", "TEXT_DELTAS", "AUDIO_EVENTS", "OPTIONS", "SESSION_EVENT_ID"]

#: Event types whose `delta` is response text.
TEXT_DELTAS = frozenset({"response.output_text.delta", "response.text.delta"})
#: Event types that show the server answering in audio (GA and beta names).
AUDIO_EVENTS = frozenset(
    {
        "response.output_audio.delta",
        "response.audio.delta",
        "response.output_audio_transcript.delta",
        "response.audio_transcript.delta",
    }
)
#: The `[adapter]` options and what each expects.
OPTIONS = {
    "api": '"ga" or "beta" (the shape of session.update)',
    "model": "a string",
    "instructions": "a string",
    "voice": "a string",
    "session": "a table of extra session.update fields",
}

_loads = json.loads
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
#: The `event_id` of the adapter's session.update events (errors about them echo it).
SESSION_EVENT_ID = "rtbench_session_update"


def _session_fields(options: Mapping[str, Any]) -> dict[str, Any]:
    """The `session` object of the handshake's session.update, from validated options."""
    api = options.get("api", "ga")
    session: dict[str, Any]
    if api == "ga":
        session = {"type": "realtime", "output_modalities": ["text"]}
    else:
        session = {"modalities": ["text"]}
    for key in ("model", "instructions"):
        if key in options:
            session[key] = options[key]
    if "voice" in options:
        if api == "ga":
            session["audio"] = {"output": {"voice": options["voice"]}}
        else:
            session["voice"] = options["voice"]
    session.update(options.get("session", {}))
    return session


def _check_options(options: Mapping[str, Any]) -> None:
    for key, value in options.items():
        expected = OPTIONS.get(key)
        if expected is None:
            raise ConfigError(f"[adapter] {key}: unknown option for openai-realtime; known: {', '.join(OPTIONS)}")
        if key == "api":
            ok = value in ("ga", "beta")
        elif key == "session":
            ok = isinstance(value, dict)
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(f"[adapter] {key}: expected {expected}, got {value!r}")


@register_adapter
class OpenAIRealtimeAdapter(ProtocolAdapter):
    """Sans-I/O client side of a Realtime-style WebSocket session, text only."""

    name = "openai-realtime"
    #: Persona switches use the reference server's `session.persona` extension of session.update.
    supports_persona = True
    sends_context = True
    keeps_context = True

    __slots__ = (
        "_session",
        "_session_id",
        "_ready",
        "_persona_pending",
        "_turn",
        "_response_event",
        "_capped",
        "_bound",
        "_previous",
        "_failed",
        "_text_seen",
        "_audio_seen",
        "_checked",
        "_items",
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(None)
        options = options or {}
        _check_options(options)
        self._session = _session_fields(options)
        self._session_id = ""
        self._ready = False
        self._persona_pending: str | None = None
        self._turn: str | None = None  # the client turn in flight
        self._response_event = ""  # the event_id of the turn's response.create
        self._capped = False  # the turn asked for max_output_tokens
        self._bound: str | None = None  # the server's response id of the turn in flight
        self._previous: str | None = None  # the response id of the turn before
        self._failed = False  # an Error was already reported for the turn in flight
        self._text_seen = self._audio_seen = False
        self._checked = False  # a first response with text has completed
        self._items: ItemLedger | None = None  # a conversation's items on the server, once one runs

    # -- outgoing -----------------------------------------------------------------------------

    def handshake(self) -> list[str]:
        return [self._update(self._session)]

    def _update(self, session: dict[str, Any]) -> str:
        return _dumps({"type": "session.update", "event_id": SESSION_EVENT_ID, "session": session})

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        return self._turn_messages(turn_id, text, max_tokens, None)

    def _turn_messages(self, turn_id: str, text: str, max_tokens: int | None, item_id: str | None) -> list[str]:
        self._turn, self._previous, self._bound = turn_id, self._bound, None
        self._failed = self._text_seen = self._audio_seen = False
        self._capped = max_tokens is not None
        self._response_event = f"{turn_id}.response"
        item: dict[str, Any] = {"id": item_id} if item_id is not None else {}
        item.update(type="message", role="user", content=[{"type": "input_text", "text": text}])
        create: dict[str, Any] = {"type": "response.create", "event_id": self._response_event}
        if max_tokens is not None:
            create["response"] = {"max_output_tokens": max_tokens}
        return [
            _dumps({"type": "conversation.item.create", "event_id": f"{turn_id}.item", "item": item}),
            _dumps(create),
        ]

    def converse(self, turn_id: str, context: TurnContext, max_tokens: int | None = None) -> list[str]:
        """A conversation's turn; the server keeps the items: those of turns the context no longer
        keeps (or of turns that failed) are deleted first, and a changed system prompt goes as the
        session's `instructions`."""
        items = self._items = self._items or ItemLedger()
        messages = [
            _dumps({"type": "conversation.item.delete", "event_id": f"{turn_id}.del{n}", "item_id": item_id})
            for n, item_id in enumerate(items.to_delete(context.kept_turns, context.new_conversation))
        ]
        if context.system is not None and context.system_changed:
            session = {"type": "realtime"} if "type" in self._session else {}
            session["instructions"] = context.system
            messages.append(self._update(session))
        item_id = f"{turn_id}.u"
        items.start(item_id)
        return messages + self._turn_messages(turn_id, context.user, max_tokens, item_id)

    def persona(self, name: str) -> list[str]:
        self._persona_pending = name
        session = {"type": "realtime"} if "type" in self._session else {}
        session["persona"] = name
        return [self._update(session)]

    # -- incoming -----------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> list[Event]:
        if type(frame) is not str:
            return self._error(BINARY_FRAME, f"unexpected binary frame of {len(frame)} bytes")
        try:
            event = _loads(frame)
        except (ValueError, RecursionError) as exc:
            return self._error(MALFORMED_FRAME, f"invalid JSON: {exc}")
        if type(event) is not dict:
            return self._error(MALFORMED_FRAME, f"a JSON {type(event).__name__}, not an object")
        kind = event.get("type")
        if type(kind) is not str:
            return self._error(UNKNOWN_FRAME_TYPE, f"an event without a string type: {kind!r}")
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind in AUDIO_EVENTS and self._owns(event.get("response_id")):
                self._audio_seen = True
            return []
        try:
            return handler(self, event)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            return self._error(BAD_FIELD, text_of(f"{kind} event: bad or missing field {exc}"))

    def _error(self, code: str, message: str) -> list[Event]:
        return [Error(code, message, self._turn, False)]

    def _owns(self, response_id: Any) -> bool:
        """Whether events of response `response_id` (None: not said) belong to the turn in flight;
        binds an unseen id to it if no response is bound yet."""
        if self._turn is None:
            return False
        if response_id is None or response_id == self._bound:
            return True
        if self._bound is None and response_id != self._previous:
            self._bound = response_id  # a server that skipped response.created
            return True
        return False

    def _on_session_created(self, event: dict[str, Any]) -> list[Event]:
        session_id = event["session"]["id"]
        if type(session_id) is not str:
            raise BadField(f"session.id must be a string, not {type(session_id).__name__}")
        self._session_id = session_id
        return []

    def _on_session_updated(self, event: dict[str, Any]) -> list[Event]:
        session = event.get("session")
        persona = session.get("persona") if type(session) is dict else None
        persona = persona if type(persona) is str else None
        if not self._ready:
            self._ready = True
            if not self._session_id and type(session) is dict and type(session.get("id")) is str:
                self._session_id = session["id"]
            return [SessionReady(self._session_id, "", persona)]
        pending, self._persona_pending = self._persona_pending, None
        if pending is None:
            return []
        return [PersonaChanged(persona or pending, None)]

    def _on_response_created(self, event: dict[str, Any]) -> list[Event]:
        response_id = event["response"]["id"]
        if self._turn is not None and self._bound is None and response_id != self._previous:
            self._bound = response_id
        return []

    def _on_text_delta(self, event: dict[str, Any]) -> list[Event]:
        if not self._owns(event.get("response_id")):
            return []
        text = event["delta"]
        if type(text) is not str:
            raise TypeError(f"'delta' must be a string, not {type(text).__name__}")
        if not text:
            return []
        self._text_seen = True
        return [Token(self._turn, text, 1, None, None)]  # type: ignore[arg-type]

    def _on_response_done(self, event: dict[str, Any]) -> list[Event]:
        response = event["response"]
        if not self._owns(response["id"]):
            return []
        turn, failed = self._turn, self._failed
        self._turn = None
        status = response.get("status")
        details = response.get("status_details")
        details = details if type(details) is dict else {}
        if status == "incomplete" and self._capped and details.get("reason") == "max_output_tokens":
            status = "completed"  # stopped at the cap the scenario asked for
        if status != "completed":
            if failed:
                return []
            error = details.get("error")
            error = error if type(error) is dict else {}
            status_text = status if type(status) is str and status else "unknown"
            code = code_of(error.get("code")) or f"response_{status_text}"
            reason = error.get("message") or details.get("reason") or "no reason given"
            return [Error(code, text_of(f"response {status_text}: {text_of(reason)}"), turn, False)]
        if not self._checked:
            if not self._text_seen and self._audio_seen:
                message = (
                    "[adapter] the first response came as audio without text; the server ignored "
                    f"the text output asked for in session.update: {_dumps(self._session)}"
                )
                return [Error(CONFIG_MISMATCH, message, turn, True)]
            self._checked = self._text_seen
        if failed:
            return []
        usage = response.get("usage")
        try:
            if usage is not None and type(usage) is not dict:
                raise BadField(f"usage must be an object, not a {type(usage).__name__}")
            usage = usage or {}
            output_tokens = count_or_none(usage.get("output_tokens"), "usage.output_tokens")
            input_tokens = count_or_none(usage.get("input_tokens"), "usage.input_tokens")
        except BadField as exc:  # the turn ends, as a protocol error
            return [Error(BAD_FIELD, f"response.done: {exc}", turn, False)]
        if self._items is not None:
            self._items.completed(response)
        if output_tokens == 0 and self._text_seen:
            output_tokens = None  # a placeholder usage (some mocks send 0s): count the deltas
        return [Done(turn, None, output_tokens, input_tokens, None)]  # type: ignore[arg-type]

    def _on_error(self, event: dict[str, Any]) -> list[Event]:
        error = event["error"]
        code = code_of(error.get("code")) or code_of(error.get("type")) or "error"
        message = text_of(error.get("message") or "no message")
        about = error.get("event_id")
        if code in FATAL_SERVER_CODES:
            return [Error(code, message, self._turn, True)]
        if not self._ready and (about == SESSION_EVENT_ID or error.get("type") == "invalid_request_error"):
            text = f"[adapter] the server rejected session.update: {code}: {message}"
            return [Error(CONFIG_MISMATCH, text, None, True)]
        if about == SESSION_EVENT_ID:
            self._persona_pending = None
            return [Error(code, message, None, False)]
        turn = self._turn
        if turn is None:
            return [Error(code, message, None, False)]
        if about == self._response_event:
            self._turn = None  # no response will come for this turn
        if self._failed:
            return []
        self._failed = True
        return [Error(code, message, turn, False)]


_HANDLERS: dict[str, Callable[[OpenAIRealtimeAdapter, dict[str, Any]], list[Event]]] = {
    "session.created": OpenAIRealtimeAdapter._on_session_created,
    "session.updated": OpenAIRealtimeAdapter._on_session_updated,
    "response.created": OpenAIRealtimeAdapter._on_response_created,
    "response.output_text.delta": OpenAIRealtimeAdapter._on_text_delta,
    "response.text.delta": OpenAIRealtimeAdapter._on_text_delta,
    "response.done": OpenAIRealtimeAdapter._on_response_done,
    "error": OpenAIRealtimeAdapter._on_error,
}
