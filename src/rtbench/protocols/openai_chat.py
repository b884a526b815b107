"""OpenAI-compatible streaming completions over HTTP SSE (`openai-chat`).

One HTTP request per turn: `prompt` builds the JSON body for `/v1/chat/completions` (or the legacy
`/v1/completions`), and the response body arrives in `receive` as raw bytes, split anyhow. Each
`data:` event is a JSON chunk; its content is `choices[i].delta.content` (chat) or
`choices[i].text` (completions), and reasoning deltas (`delta.reasoning_content`, or
`delta.reasoning` as some servers name it) are content too, as a `Token` flagged `reasoning` (so TTFT
is the first token of any kind, and the first answer token is told apart). A chunk without content
(the role-only first chunk, the `finish_reason` chunk, the usage chunk) yields no `Token`, so TTFT
is taken at the first chunk that carries text. `data: [DONE]` ends the turn with `Done`.

Tokens are counted from the `usage` block when the server sends one (asked for with
`stream_options.include_usage`), otherwise one per content delta: `token_count_method` says which.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from rtbench.errors import ConfigError
from rtbench.protocols.base import ProtocolAdapter, Wire, register_adapter
from rtbench.protocols.context import TurnContext
from rtbench.protocols.events import BAD_FIELD, MALFORMED_FRAME, Done, Error, Event, Token
from rtbench.protocols.fields import BadField, code_of, count_or_none, text_of
from rtbench.protocols.sse import SseParser

__all__ = ["OpenAIChatAdapter", "INCOMPLETE_STREAM", "SessionTokenSource"]

#: The response body ended (by its HTTP framing) before `data: [DONE]`.
INCOMPLETE_STREAM = "incomplete_stream"
#: Where this session's token counts come from: the server's usage block once one was seen, else
#: one per content delta. Session-wide and sticky, unlike a turn's `rtbench.metrics.names.TokenCountMethod`
#: ("usage" or "frames"), which is what summary.json counts.
SessionTokenSource = Literal["usage", "per_delta"]

#: Request fields rtbench sets itself, and the option that controls each instead of `extra`.
_RESERVED = {
    "model": "model",
    "messages": "the turn's text",
    "prompt": "the turn's text",
    "stream": "nothing (always true)",
    "stream_options": "include_usage",
}
_OPTIONS = ("endpoint", "extra", "include_usage", "model", "url")
#: The most error-body bytes kept for the message of an HTTP error.
_ERROR_BODY_LIMIT = 16384
_MESSAGE_LIMIT = 200

_loads = json.loads
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _option_error(key: str, expected: str, got: object) -> ConfigError:
    return ConfigError(f"[adapter] {key}: expected {expected}, got {got!r}")


def _endpoint_of(url: str) -> Literal["chat", "completions"] | None:
    path = urlsplit(url).path.rstrip("/")
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/v1/completions"):
        return "completions"
    return None


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MESSAGE_LIMIT else text[: _MESSAGE_LIMIT - 1] + "…"


def _server_error(obj: object, turn_id: str | None) -> Error:
    """An `Error` from an OpenAI error object (`{"message", "type", "code"}`), or from any value."""
    if isinstance(obj, dict):
        code = code_of(obj.get("code")) or code_of(obj.get("type")) or "server_error"
        message = obj.get("message")
        return Error(code, "" if message is None else text_of(message, _MESSAGE_LIMIT), turn_id, False)
    return Error("server_error", text_of(obj, _MESSAGE_LIMIT), turn_id, False)


def _http_error(status: int, reason: str, body: bytes, turn_id: str | None) -> Error:
    """`http_<status>` with the JSON error body's message, else the body's text, else the reason."""
    text = body.decode("utf-8", "replace").strip()
    try:
        parsed = _loads(text)
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        error = parsed.get("error")
        found = error.get("message") if isinstance(error, dict) else error if isinstance(error, str) else None
        text = found if isinstance(found, str) and found else text
    return Error(f"http_{status}", _short(text or f"{status} {reason}".strip()), turn_id, False)


@register_adapter
class OpenAIChatAdapter(ProtocolAdapter):
    """Sans-I/O client side of OpenAI-compatible SSE streaming, one instance per session."""

    name = "openai-chat"
    wire = Wire.HTTP_STREAM
    awaits_ready = False
    sends_context = True

    __slots__ = (
        "model",
        "endpoint",
        "include_usage",
        "extra",
        "token_count_method",
        "_turn",
        "_parser",
        "_status",
        "_reason",
        "_error_body",
        "_usage",
        "_finished",
    )

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"[adapter] {unknown[0]}: unknown option for openai-chat; known: {', '.join(_OPTIONS)}")
        self.model: str = options.get("model", "rtbench")
        if not isinstance(self.model, str) or not self.model:
            raise _option_error("model", "a model name (a non-empty string)", self.model)
        url = options.get("url")
        if url is not None and not isinstance(url, str):
            raise _option_error("url", "a URL string", url)
        self.endpoint: Literal["chat", "completions"] = self._endpoint(options.get("endpoint"), url)
        self.include_usage = options.get("include_usage", True)
        if not isinstance(self.include_usage, bool):
            raise _option_error("include_usage", "true or false", self.include_usage)
        self.extra: dict[str, Any] = options.get("extra", {})
        if not isinstance(self.extra, dict):
            raise _option_error("extra", "a table of request fields", self.extra)
        for key in self.extra:
            if key in _RESERVED:
                raise ConfigError(f"[adapter] extra.{key}: set by rtbench; use {_RESERVED[key]} instead")
        #: "usage" once a usage block was seen on this session, else "per_delta".
        self.token_count_method: SessionTokenSource = "per_delta"
        self._turn: str | None = None
        self._parser = SseParser()
        self._status = 200
        self._reason = ""
        self._error_body = bytearray()
        self._usage: dict[str, Any] | None = None
        self._finished = False  # Done or an error already ended the turn in flight

    @staticmethod
    def _endpoint(given: object, url: str | None) -> Literal["chat", "completions"]:
        from_url = _endpoint_of(url) if url else None
        if given is None:
            return from_url or "chat"
        if given not in ("chat", "completions"):
            raise _option_error("endpoint", '"chat" or "completions"', given)
        if from_url is not None and from_url != given:
            raise ConfigError(f"[adapter] endpoint: {given!r} does not match the target URL {url!r}")
        return given

    # -- outgoing -----------------------------------------------------------------------------

    def prompt(self, turn_id: str, text: str, max_tokens: int | None = None) -> list[str]:
        """The request body of turn `turn_id`; resets the response state for it."""
        if self.endpoint == "chat":
            return self._request(turn_id, {"messages": [{"role": "user", "content": text}]}, max_tokens)
        return self._request(turn_id, {"prompt": text}, max_tokens)

    def converse(self, turn_id: str, context: TurnContext, max_tokens: int | None = None) -> list[str]:
        """The request body of a conversation's turn: the whole `messages` list (the system
        prompt, the kept turns with the text streamed back, the user text), and the session as
        the OpenAI `user` field (a server's per-user prefix cache key); the legacy completions
        endpoint gets the messages' texts, one per line, as its prompt."""
        fields: dict[str, Any]
        if self.endpoint == "chat":
            fields = {"messages": context.message_dicts()}
        else:
            fields = {"prompt": "\n".join(message.content for message in context.messages())}
        if context.model is not None:
            fields["model"] = context.model
        if context.session:
            fields["user"] = context.session
        return self._request(turn_id, fields, max_tokens)

    def _request(self, turn_id: str, fields: dict[str, Any], max_tokens: int | None) -> list[str]:
        body: dict[str, Any] = {"model": self.model}
        body.update(fields)
        body["stream"] = True
        if self.include_usage:
            body["stream_options"] = {"include_usage": True}
        body.update(self.extra)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        self._turn = turn_id
        self._parser = SseParser()
        self._status, self._reason = 200, ""
        self._error_body = bytearray()
        self._usage = None
        self._finished = False
        return [_dumps(body)]

    # -- incoming -----------------------------------------------------------------------------

    def response_started(self, status: int, reason: str) -> list[Event]:
        self._status, self._reason = status, reason
        return []

    def receive(self, frame: str | bytes) -> list[Event]:
        chunk = frame.encode() if isinstance(frame, str) else frame
        if not 200 <= self._status < 300:
            if len(self._error_body) < _ERROR_BODY_LIMIT:
                self._error_body += chunk[: _ERROR_BODY_LIMIT - len(self._error_body)]
            return []
        events: list[Event] = []
        for sse in self._parser.feed(chunk):
            if self._finished:  # nothing counts after [DONE] or an error object
                break
            events.extend(self._on_data(sse.data))
        return events

    def response_ended(self) -> list[Event]:
        turn_id = self._turn
        if not 200 <= self._status < 300:
            self._finished = True
            return [_http_error(self._status, self._reason, bytes(self._error_body), turn_id)]
        if self._finished:
            return []
        self._finished = True
        return [Error(INCOMPLETE_STREAM, "the response ended without data: [DONE]", turn_id, False)]

    def _on_data(self, data: str) -> list[Event]:
        turn_id = self._turn
        if data == "[DONE]":
            self._finished = True
            usage = self._usage or {}
            try:
                output_tokens = count_or_none(usage.get("completion_tokens"), "usage.completion_tokens")
                input_tokens = count_or_none(usage.get("prompt_tokens"), "usage.prompt_tokens")
            except BadField as exc:
                return [Error(BAD_FIELD, str(exc), turn_id, False)]
            return [Done(turn_id or "", None, output_tokens, input_tokens, None)]
        if not data.strip():
            return []
        try:
            chunk = _loads(data)
        except (ValueError, RecursionError) as exc:
            return [Error(MALFORMED_FRAME, _short(f"invalid JSON in an SSE event: {exc}"), turn_id, False)]
        if type(chunk) is not dict:
            return [
                Error(MALFORMED_FRAME, f"an SSE event of a JSON {type(chunk).__name__}, not an object", turn_id, False)
            ]
        if "error" in chunk:
            self._finished = True
            return [_server_error(chunk["error"], turn_id)]
        chunk_usage = chunk.get("usage")
        if type(chunk_usage) is dict:
            self._usage = chunk_usage
            self.token_count_method = "usage"
        elif chunk_usage is not None:
            self._finished = True
            return [
                Error(BAD_FIELD, f"chunk usage: an object expected, not a {type(chunk_usage).__name__}", turn_id, False)
            ]
        try:
            reasoning, text = _content(chunk.get("choices"))
        except (TypeError, AttributeError) as exc:
            return [Error(BAD_FIELD, _short(f"chunk choices: {exc}"), turn_id, False)]
        events: list[Event] = []
        if reasoning:
            events.append(Token(turn_id or "", reasoning, 1, None, None, True))
        if text:
            events.append(Token(turn_id or "", text, 1, None, None))
        return events


def _content(choices: object) -> tuple[str, str]:
    """(reasoning, answer): the texts a chunk's choices carry, "" for none."""
    if not choices:
        return "", ""
    if type(choices) is not list:
        raise TypeError(f"expected a list, got a {type(choices).__name__}")
    reasoning: list[str] = []
    answer: list[str] = []
    for choice in choices:
        delta = choice.get("delta")
        values: tuple[tuple[object, list[str]], ...]
        if type(delta) is dict:
            values = (
                (delta.get("reasoning_content") or delta.get("reasoning"), reasoning),
                (delta.get("content"), answer),
            )
        else:
            values = ((choice.get("text"), answer),)
        for value, parts in values:
            if value:
                if type(value) is not str:
                    raise TypeError(f"content must be a string, not {type(value).__name__}")
                parts.append(value)
    return "".join(reasoning), "".join(answer)
