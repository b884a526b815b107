"""`ws-json`: any JSON-over-WebSocket chat protocol, described in the scenario's `[adapter]` table.

Outgoing messages are JSON templates whose strings hold placeholders: `{prompt}`, `{turn_id}`,
`{max_tokens}`, `{session_id}` and `{persona}`, and for conversations (`[conversation]`)
`{messages}` (OpenAI-style: system, kept turns, user text), `{history}` (the kept turns alone),
`{turn}` (its index in the conversation) and `{system}`. A template is parsed once; each message is the
parsed value with its strings filled in and then encoded, so prompt text is escaped by the JSON
encoder, never pasted into JSON text. A string that is exactly one placeholder takes the value's
own JSON type (`"{max_tokens}"` becomes a number), and an object member whose value is exactly an
unset placeholder (no max_tokens, no persona chosen, no session id) is left out.

Incoming messages are read with JMESPath selectors (https://jmespath.org): `token` gives the text
of a content message (a non-empty string; anything else means "no content here"), `done`, `error`
and `ready` are truthy on the message they name (truthy as JMESPath defines it: not null, false,
"" or empty). scenarios/ws-json-example.toml documents every key with the native protocol as the
example.

A selector that cannot match what the server sends would otherwise look like a slow or silent
server, so until the first response has completed with content, the adapter checks: a first
response that ends without any token, or `mismatch_after` messages in a row that no selector
matches, is a fatal `config_mismatch` error that stops the run with one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jmespath
from jmespath.exceptions import ArityError, JMESPathError, UnknownFunctionError
from jmespath.visitor import TreeInterpreter

from rtbench.errors import ConfigError
from rtbench.protocols.base import ProtocolAdapter, register_adapter
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import (
    BAD_FIELD,
    BINARY_FRAME,
    CONFIG_MISMATCH,
    MALFORMED_FRAME,
    Done,
    Error,
    Event,
    SessionReady,
    Token,
)
from rtbench.protocols.fields import BadField, code_of, count_or_none, frame_count, text_of

__all__ = ["WsJsonAdapter", "Template", "Selector", "OPTIONS", "PLACEHOLDERS"]

#: Every placeholder a template may use.
PLACEHOLDERS = ("prompt", "turn_id", "max_tokens", "session_id", "persona", "messages", "history", "turn", "system")
#: The `[adapter]` options: the kind of each (template, selector or number) and whether required.
OPTIONS: dict[str, tuple[str, bool]] = {
    "request": ("template", True),
    "handshake": ("template", False),
    "persona_request": ("template", False),
    "ready": ("selector", False),
    "session_id": ("selector", False),
    "token": ("selector", True),
    "tokens": ("selector", False),
    "done": ("selector", True),
    "usage": ("selector", False),
    "error": ("selector", False),
    "error_code": ("selector", False),
    "error_message": ("selector", False),
    "mismatch_after": ("number", False),
}
#: Placeholders each template may use (the turn's own values exist only in `request`).
_ALLOWED = {
    "request": PLACEHOLDERS,
    "handshake": ("persona",),
    "persona_request": ("persona", "session_id"),
}
#: Messages in a row matching no selector, before the first good response, that stop the run.
DEFAULT_MISMATCH_AFTER = 50
#: How much of a message a config_mismatch error quotes.
QUOTE_CHARS = 200

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_loads = json.loads
_UNSET = object()
#: One interpreter for every selector: `ParsedResult.search` builds a new one per call, which
#: costs more than evaluating a simple expression (3.9 against 1.6 µs for `type == 'error'`).
_INTERPRETER = TreeInterpreter()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quote(frame: str) -> str:
    return frame if len(frame) <= QUOTE_CHARS else frame[:QUOTE_CHARS] + "..."


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false, "", [] and {} are false; every number is true."""
    return not (value is None or value is False or value == "" or value == [] or value == {})


class Template:
    """A JSON value with placeholders in its strings; `render` fills them and encodes the result."""

    __slots__ = ("key", "_value")

    def __init__(self, key: str, source: Any, allowed: tuple[str, ...] = PLACEHOLDERS) -> None:
        self.key = key
        if isinstance(source, str):
            try:
                source = _loads(source)
            except ValueError as exc:
                raise ConfigError(
                    f"[adapter] {key}: expected a JSON template (placeholders go inside strings, "
                    f'as in "{{prompt}}"), got invalid JSON: {exc}'
                ) from None
        if not isinstance(source, (dict, list)):
            raise ConfigError(f"[adapter] {key}: expected a JSON object or array template, or a table, got {source!r}")
        self._value = source
        self._check(source, allowed)

    def _check(self, value: Any, allowed: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for member, item in value.items():
                self._check(member, allowed)
                self._check(item, allowed)
        elif isinstance(value, list):
            for item in value:
                self._check(item, allowed)
        elif isinstance(value, str):
            for name in _PLACEHOLDER.findall(value):
                if name not in allowed:
                    known = ", ".join(f"{{{n}}}" for n in allowed)
                    raise ConfigError(f"[adapter] {self.key}: unknown placeholder {{{name}}}; known here: {known}")

    def render(self, values: Mapping[str, Any]) -> str:
        """The JSON text with every placeholder replaced by its value in `values` (None: unset)."""
        return _dumps(_fill(self._value, values))


def _fill_text(text: str, values: Mapping[str, Any]) -> str:
    """`text` with each placeholder replaced by its value as text ("" when unset)."""
    if "{" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: _as_text(values.get(m.group(1))), text)


def _as_text(value: Any) -> str:
    """A placeholder's value inside a longer string: "" when unset, JSON for lists and objects."""
    if value is None:
        return ""
    return _dumps(value) if isinstance(value, (list, dict)) else str(value)


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    """`value` with its placeholders filled; `_UNSET` for a string that is exactly an unset one."""
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value)
        if whole is None:
            return _fill_text(value, values)
        filled = values.get(whole.group(1))
        return _UNSET if filled is None else filled
    if isinstance(value, dict):
        members = {}
        for member, item in value.items():
            filled = _fill(item, values)
            if filled is not _UNSET and _fill(member, values) is not _UNSET:
                members[_fill_text(member, values)] = filled
        return members
    if isinstance(value, list):
        return [None if item is _UNSET else item for item in (_fill(v, values) for v in value)]
    return value


class Selector:
    """A compiled JMESPath expression; `search` gives None where the expression does not apply."""

    __slots__ = ("key", "expression", "_parsed")

    def __init__(self, key: str, expression: Any) -> None:
        if not isinstance(expression, str) or not expression.strip():
            raise ConfigError(f"[adapter] {key}: expected a JMESPath expression, got {expression!r}")
        self.key = key
        self.expression = expression
        try:
            self._parsed = jmespath.compile(expression).parsed
        except JMESPathError as exc:
            raise ConfigError(
                f"[adapter] {key}: invalid JMESPath expression {expression!r}: {_one_line(str(exc))}"
            ) from None
        try:  # unknown functions and wrong arities show only when an expression runs
            _INTERPRETER.visit(self._parsed, {})
        except (UnknownFunctionError, ArityError) as exc:
            raise ConfigError(f"[adapter] {key}: {_one_line(str(exc))} in {expression!r}") from None
        except JMESPathError:
            pass  # a type error on an empty message says nothing about the expression

    def search(self, document: Any) -> Any:
        try:
            return _INTERPRETER.visit(self._parsed, document)
        except JMESPathError:  # a type error on this message's shape: no match
            return None


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Templates and selectors built from `options`, or a one-line `ConfigError`."""
    for key in options:
        if key not in OPTIONS:
            raise ConfigError(f"[adapter] {key}: unknown option for ws-json; known: {', '.join(OPTIONS)}")
    built: dict[str, Any] = {}
    for key, (kind, required) in OPTIONS.items():
        if key not in options:
            if required:
                raise ConfigError(f"[adapter] {key}: required by protocol ws-json")
            built[key] = None
        elif kind == "template":
            built[key] = Template(key, options[key], _ALLOWED[key])
        elif kind == "selector":
            built[key] = Selector(key, options[key])
        else:
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"[adapter] {key}: expected a positive integer, got {value!r}")
            built[key] = value
    return built


@register_adapter
class WsJsonAdapter(ProtocolAdapter):
    """A JSON-over-WebSocket chat protocol described by the scenario's `[adapter]` table."""

    name = "ws-json"
    #: `{persona}` fills later requests; `persona_request`, if given, is sent on a switch.
    supports_persona = True
    sends_context = True

    __slots__ = (
        "awaits_ready",
        "_opt",
        "_session_id",
        "_persona",
        "_ready_seen",
        "_turn",
        "_turn_tokens",
        "_turn_first",
        "_checked",
        "_unmatched",
        "_unmatched_first",
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(None)
        opt = self._opt = _options(options or {})
        #: Sessions wait for the `ready` message only when a `ready` selector is configured.
        self.awaits_ready = opt["ready"] is not None
        self._session_id: str | None = None
        self._persona: str | None = None
        self._ready_seen = False
        self._turn: str | None = None  # the client turn in flight
        self._turn_tokens = 0  # Token events of the turn in flight
        self._turn_first: str | None = None  # the first message of the turn in flight
        self._checked = False  # a response has completed with content: the selectors work
        self._unmatched = 0  # messages in a row that no selector matched (until checked)
        self._unmatched_first = ""

    # -- outgoing -----------------------------------------------------------------------------

    def _values(self, **turn: Any) -> dict[str, Any]:
        return {"session_id": self._session_id, "persona": self._persona, **turn}

    def handshake(self) -> list[str]:
        template: Template | None = self._opt["handshake"]
        return [] if template is None else [template.render(self._values())]

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        messages = [{"role": "user", "content": text}]
        return self._request(turn_id, max_tokens, prompt=text, messages=messages, history=[])

    def converse(self, turn_id: str, context: TurnContext, max_tokens: int | None = None) -> list[str]:
        """A conversation's turn: `{messages}`, `{history}`, `{turn}` and `{system}` are filled too."""
        history = [message.as_dict() for message in context.history]
        values = {"messages": context.message_dicts(), "turn": context.turn, "system": context.system}
        return self._request(turn_id, max_tokens, prompt=context.user, history=history, **values)

    def _request(self, turn_id: str, max_tokens: int | None, **values: Any) -> list[str]:
        self._turn, self._turn_tokens, self._turn_first = turn_id, 0, None
        return [self._opt["request"].render(self._values(turn_id=turn_id, max_tokens=max_tokens, **values))]

    def persona(self, name: str) -> list[str]:
        self._persona = name
        template: Template | None = self._opt["persona_request"]
        return [] if template is None else [template.render(self._values())]

    # -- incoming -----------------------------------------------------------------------------

    def receive(self, frame: str | bytes) -> list[Event]:
        if type(frame) is not str:
            return [Error(BINARY_FRAME, f"unexpected binary frame of {len(frame)} bytes", self._turn, False)]
        try:
            message = _loads(frame)
        except (ValueError, RecursionError) as exc:
            return [Error(MALFORMED_FRAME, f"invalid JSON: {exc}", self._turn, False)]
        if self._turn is not None and self._turn_first is None:
            self._turn_first = frame
        opt = self._opt
        if not self._ready_seen and opt["ready"] is not None and _truthy(opt["ready"].search(message)):
            return self._on_ready(message)
        error: Selector | None = opt["error"]
        if error is not None and _truthy(error.search(message)):
            return self._on_error(message, frame)
        events: list[Event] = []
        text = opt["token"].search(message)
        matched = type(text) is str and text != ""
        if matched and self._turn is not None:
            try:
                count = self._count(message)
            except BadField as exc:
                turn, self._turn = self._turn, None
                return [Error(BAD_FIELD, str(exc), turn, False)]
            events.append(Token(self._turn, text, count, None, None))
            self._turn_tokens += 1
        if _truthy(opt["done"].search(message)):
            matched = True
            events.extend(self._on_done(message))
        if self._checked:
            return events
        if matched:
            self._unmatched = 0
            return events
        return self._on_unmatched(frame)

    def _on_ready(self, message: Any) -> list[Event]:
        self._ready_seen = True
        self._unmatched = 0
        selector: Selector | None = self._opt["session_id"]
        found = None if selector is None else selector.search(message)
        if found is not None:
            self._session_id = found if type(found) is str else _dumps(found)
        return [SessionReady(self._session_id or "", "", self._persona)]

    def _count(self, message: Any) -> int:
        selector: Selector | None = self._opt["tokens"]
        if selector is None:
            return 1
        count = selector.search(message)
        return 1 if count is None else frame_count(count, f"tokens {selector.expression!r}")

    def _on_done(self, message: Any) -> list[Event]:
        turn, self._turn = self._turn, None
        if turn is None:
            return []
        if not self._checked:
            if self._turn_tokens == 0:
                token: Selector = self._opt["token"]
                first = _quote(self._turn_first or "")
                text = (
                    f"[adapter] token selector {token.expression!r} matched nothing in the first "
                    f"response; first message was: {first}"
                )
                self._checked = True  # one config_mismatch error is enough: the run stops
                return [Error(CONFIG_MISMATCH, text, turn, True)]
            self._checked = True
        selector: Selector | None = self._opt["usage"]
        usage = None if selector is None else selector.search(message)
        try:
            output_tokens = count_or_none(usage, f"usage {selector.expression!r}" if selector else "usage")
        except BadField as exc:
            return [Error(BAD_FIELD, str(exc), turn, False)]
        return [Done(turn, None, output_tokens, None, None)]

    def _on_error(self, message: Any, frame: str) -> list[Event]:
        opt = self._opt
        self._unmatched = 0
        code = None if opt["error_code"] is None else opt["error_code"].search(message)
        text = None if opt["error_message"] is None else opt["error_message"].search(message)
        turn, self._turn = self._turn, None
        return [Error(code_of(code) or "error", text_of(text if type(text) is str else _quote(frame)), turn, False)]

    def _on_unmatched(self, frame: str) -> list[Event]:
        if self._unmatched == 0:
            self._unmatched_first = frame
        self._unmatched += 1
        limit: int = self._opt["mismatch_after"] or DEFAULT_MISMATCH_AFTER
        if self._unmatched < limit:
            return []
        self._checked = True
        keys = [key for key in ("ready", "token", "done", "error") if self._opt[key] is not None]
        described = ", ".join(f"{key} {self._opt[key].expression!r}" for key in keys)
        text = (
            f"[adapter] no selector ({described}) matched {limit} messages in a row; "
            f"first message was: {_quote(self._unmatched_first)}"
        )
        return [Error(CONFIG_MISMATCH, text, self._turn, True)]
