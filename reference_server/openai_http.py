"""OpenAI-compatible `POST /v1/chat/completions` and `POST /v1/completions` (SSE or whole JSON)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from reference_server.context import Message, Prefill, PrefixCache, bound_messages, message
from reference_server.guard import guard_of, mark_arrived
from reference_server.http_errors import error_response, refusal, refuse_when_full
from reference_server.jsonwire import dumps, loads
from reference_server.latency import FrameSlot, Persona, token_text
from reference_server.state import STATE, ServerState

__all__ = ["handle_chat_completions", "handle_completions"]

PROTOCOL = "openai"
DEFAULT_MODEL = "rtref"


class BodyLost(Exception):
    """The body never arrived: the client went away, or was too slow and was cut off (counted)."""


class RequestError(Exception):
    """A bad request: answered with an OpenAI-style error object, status by code (400 by default)."""

    STATUS = {"too_large": 413}

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    @property
    def status(self) -> int:
        return self.STATUS.get(self.code, 400)


@dataclass(frozen=True)
class CompletionRequest:
    """The fields of a (chat) completion request that the server uses."""

    chat: bool
    model: str
    persona: Persona
    #: The messages (chat) or prompts (completions), within `--max-context-tokens`.
    context: list[Message]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    #: The body's `user` string: it keys the prefix cache (None: no cache).
    user: str | None = None


async def handle_chat_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=True)


async def handle_completions(request: web.Request) -> web.StreamResponse:
    return await _complete(request, chat=False)


def parse_request(body: bytes, chat: bool, state: ServerState) -> CompletionRequest:
    """Validate a request body; RequestError says what is wrong."""
    try:
        data = loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise RequestError("bad_json", f"invalid JSON: {exc}"[:200]) from None
    if not isinstance(data, dict):
        raise RequestError("bad_json", "the body must be a JSON object")
    if chat:
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise RequestError("bad_request", "'messages' must be a non-empty list of objects")
        roles = [m.get("role", "user") for m in messages]
        if not all(isinstance(role, str) for role in roles):
            raise RequestError("bad_request", "a message's 'role' must be a string")
        context = [message(role, _content_text(m.get("content"))) for role, m in zip(roles, messages, strict=True)]
    else:
        prompt = data.get("prompt", "")
        texts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise RequestError("bad_request", "'prompt' must be a string or a list of strings")
        context = [message("user", text) for text in texts]
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise RequestError("bad_request", "'user' must be a string")
    model = data.get("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        raise RequestError("bad_request", "'model' must be a string")
    limit = data.get("max_completion_tokens", data.get("max_tokens"))
    if limit is not None and (type(limit) is not int or limit < 1):
        raise RequestError("bad_request", "'max_tokens' must be an integer >= 1")
    options = data.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    persona = state.config.personas.get(model) or state.persona(None)
    context, _ = bound_messages(context, state.config.max_context_tokens)
    return CompletionRequest(chat, model, persona, context, data.get("stream") is True, include_usage, limit, user)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    if content is None:
        return ""
    raise RequestError("bad_request", "message 'content' must be a string or a list of parts")


async def _complete(request: web.Request, chat: bool) -> web.StreamResponse:
    received = time.monotonic()
    mark_arrived(request)  # a whole (unstreamed) answer may take longer than the handshake timeout
    state = request.app[STATE]
    state.metrics.http_request(PROTOCOL, request.transport)
    full = refuse_when_full(state)
    if full is not None:
        return full
    try:
        return await _admitted(request, state, chat, received)
    finally:
        state.gate.leave()


async def _admitted(request: web.Request, state: ServerState, chat: bool, received: float) -> web.StreamResponse:
    """The request, once it holds a session place: parse, rate-limit, answer."""
    try:
        req = parse_request(await _body(request), chat, state)
    except RequestError as exc:
        state.metrics.error(exc.code)
        return error_response(exc.status, exc.code, str(exc))
    except BodyLost:
        return web.Response(status=400)  # never sent: the connection is gone
    wait = _rate_wait(request, state)
    if wait:
        state.metrics.error("rate_limited")
        return refusal(
            429,
            "rate_limited",
            f"over the limit of {state.rate.rate:g} requests/s (burst {state.rate.burst}); retry in {wait:.3f} s",
            wait,
        )
    metrics = state.metrics
    metrics.prompts.labels(PROTOCOL).inc()
    metrics.sessions_total.labels(PROTOCOL).inc()
    open_gauge = metrics.sessions_open.labels(PROTOCOL)
    open_gauge.inc()
    drop = state.faults.arm_drop(request.transport, lambda: metrics.faults.labels("drop").inc())
    cache = state.http_caches.get(req.user) if req.user and state.config.prefix_cache == "on" else None
    turn = _Turn(req, cache, state.admit(cache, req.context))
    try:
        if req.stream:
            return await _stream(request, state, turn, received)
        return await _whole(state, turn, received)
    finally:
        open_gauge.dec()
        if drop is not None:
            drop.cancel()


async def _body(request: web.Request) -> bytes:
    """The request body, within `max_message_bytes` and `handshake_timeout_s` (a body sent byte by byte)."""
    config = request.app[STATE].config
    try:
        async with asyncio.timeout(config.limits.handshake_timeout_s or None):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestError("too_large", f"the body is over {config.max_message_bytes} bytes") from None
    except TimeoutError:
        guard = guard_of(request)
        if guard is not None:
            guard.handshake_expired()
        raise BodyLost from None
    except ConnectionError:
        raise BodyLost from None  # the client left mid-body (it used to log an ERROR line each time)


def _rate_wait(request: web.Request, state: ServerState) -> float:
    """Seconds until this client may send another request (0.0: go). Clients are told apart by their
    Authorization header, or else by their connection."""
    if not state.rate.enabled:
        return 0.0
    authorization = request.headers.get("Authorization")
    if authorization is not None:
        return state.http_buckets.wait(authorization)
    guard = guard_of(request)
    if guard is None:
        return 0.0
    if guard.bucket is None:
        guard.bucket = state.rate.bucket()
    return state.rate.wait(guard.bucket)


def _envelope(req: CompletionRequest) -> dict[str, Any]:
    prefix = "chatcmpl-" if req.chat else "cmpl-"
    return {
        "id": prefix + secrets.token_hex(12),
        "object": "chat.completion.chunk" if req.chat else "text_completion",
        "created": int(time.time()),
        "model": req.model,
    }


@dataclass(frozen=True)
class _Turn:
    """A request, its client's prefix cache (None: no `user`, or `--prefix-cache off`) and its input."""

    req: CompletionRequest
    cache: PrefixCache | None
    prefill: Prefill

    def completed(self, state: ServerState, reply: str) -> None:
        state.remember(self.cache, self.req.context, reply)


def _usage(turn: _Turn, output_tokens: int) -> dict[str, Any]:
    prompt_tokens, cached = turn.prefill
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": prompt_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


async def _stream(
    request: web.Request,
    state: ServerState,
    turn: _Turn,
    received: float,
) -> web.StreamResponse:
    req = turn.req
    tally = state.metrics.tallies[PROTOCOL]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    if state.config.faults.close_after_stream:
        response.force_close()  # after the head went out: it still says keep-alive
    envelope = _envelope(req)
    head = dumps(envelope)[:-1]  # the envelope without its closing brace

    async def event(data: str) -> None:
        raw = f"data: {data}\n\n".encode()
        tally.bytes += len(raw)
        await response.write(raw)

    reasoning = state.config.reasoning_tokens if req.chat else 0
    if req.chat:
        await event(head + ',"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}')
        before, after = head + ',"choices":[{"index":0,"delta":{"content":"', '"},"finish_reason":null}]}'
    else:
        before, after = head + ',"choices":[{"index":0,"text":"', '","logprobs":null,"finish_reason":null}]}'
    thinking = head + ',"choices":[{"index":0,"delta":{"reasoning_content":"'

    async def send_chunk(slot: FrameSlot) -> None:
        first, count = slot.first_token, slot.tokens
        if first < reasoning:  # --reasoning-tokens: the first tokens are reasoning
            thought = min(count, reasoning - first)
            await event(thinking + token_text(first, thought) + after)
            first, count = first + thought, count - thought
            if not count:
                return
        await event(before + token_text(first, count) + after)

    try:
        result = await state.generate(
            req.persona,
            state.next_turn_key(),
            received,
            req.max_tokens,
            send_chunk,
            PROTOCOL,
            request.transport,
            turn.prefill,
            reasoning,
        )
        if result.injected:
            state.metrics.error("injected")
            await event(
                dumps(
                    {
                        "error": {
                            "message": "injected fault: the completion failed",
                            "type": "server_error",
                            "param": None,
                            "code": "injected",
                        }
                    }
                )
            )
            return response
        final = (
            {"index": 0, "delta": {}, "finish_reason": "stop"}
            if req.chat
            else {"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}
        )
        turn.completed(state, token_text(reasoning, result.tokens - reasoning))  # the answer, as streamed
        await event(dumps({**envelope, "choices": [final]}))
        if req.include_usage:
            await event(dumps({**envelope, "choices": [], "usage": _usage(turn, result.tokens)}))
        await event("[DONE]")
        await response.write_eof()
    except ConnectionError:
        pass  # the client went away mid-stream
    return response


async def _whole(state: ServerState, turn: _Turn, received: float) -> web.Response:
    req = turn.req
    pieces: list[str] = []

    async def collect(slot: FrameSlot) -> None:
        pieces.append(token_text(slot.first_token, slot.tokens))

    result = await state.generate(
        req.persona, state.next_turn_key(), received, req.max_tokens, collect, PROTOCOL, None, turn.prefill
    )
    if result.injected:
        state.metrics.error("injected")
        return error_response(500, "injected", "injected fault: the completion failed", "server_error")
    text = "".join(pieces)
    turn.completed(state, text)
    envelope = _envelope(req)
    if req.chat:
        envelope["object"] = "chat.completion"
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
    body = dumps({**envelope, "choices": [choice], "usage": _usage(turn, result.tokens)}).encode()
    state.metrics.tallies[PROTOCOL].bytes += len(body)
    return web.Response(body=body, content_type="application/json")
