"""The OpenAI-Realtime-style text protocol on `/v1/realtime`."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from aiohttp import web

from reference_server.context import Message, Prefill, PrefixCache, message, over_budget
from reference_server.jsonwire import dumps
from reference_server.latency import FrameSlot, Persona, token_text
from reference_server.limits import check_prompt
from reference_server.state import STATE, ServerState, background
from reference_server.ws_common import MessageHandler, serve_websocket

__all__ = ["handle_realtime"]

PROTOCOL = "realtime"
MODEL = "rtref-realtime"
_DELTA = (
    '{"type":"response.output_text.delta","event_id":"%s","response_id":"%s","item_id":"%s",'
    '"output_index":0,"content_index":0,"delta":"%s"}'
)


async def handle_realtime(request: web.Request) -> web.StreamResponse:
    """`GET /v1/realtime`: one Realtime session per connection."""
    state = request.app[STATE]
    return await serve_websocket(request, state, PROTOCOL, RealtimeConnection(state, request.transport))


class RealtimeConnection:
    """One `/v1/realtime` connection: its conversation input, persona and active response."""

    handlers: ClassVar[Mapping[str, MessageHandler]]
    __slots__ = (
        "state",
        "ws",
        "transport",
        "session_id",
        "persona",
        "instructions",
        "items",
        "cache",
        "active",
        "switching",
        "switches",
        "bucket",
        "_ids",
    )

    def __init__(self, state: ServerState, transport: asyncio.BaseTransport | None) -> None:
        self.state = state
        self.ws: web.WebSocketResponse | None = None
        self.transport = transport
        self.session_id = "sess_" + secrets.token_hex(8)
        self.persona: Persona = state.persona(None)
        #: The system prompt (`session.instructions`), and the conversation's items by id, oldest first.
        self.instructions: Message | None = None
        self.items: dict[str, Message] = {}
        self.cache = PrefixCache()
        self.active: asyncio.Task[None] | None = None
        self.switching: asyncio.Task[None] | None = None
        #: Persona switches not finished yet (each waits for the one before).
        self.switches = 0
        self.bucket = state.rate.bucket()
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids)}"

    def _session(self) -> dict[str, Any]:
        return {
            "id": self.session_id,
            "object": "realtime.session",
            "model": MODEL,
            "modalities": ["text"],
            "persona": self.persona.name,
            "instructions": self.instructions.content if self.instructions is not None else "",
        }

    async def send(self, event: dict[str, Any]) -> None:
        if self.ws is not None:
            try:
                await self.ws.send_str(dumps({"type": event.pop("type"), "event_id": self._id("event"), **event}))
            except ConnectionError:
                pass

    async def error(
        self, code: str, message: str, client_event: dict[str, Any] | None = None, retry_after_s: float | None = None
    ) -> None:
        self.state.metrics.error(code)
        error: dict[str, Any] = {"type": "invalid_request_error", "code": code, "message": message}
        if client_event and isinstance(client_event.get("event_id"), str):
            error["event_id"] = client_event["event_id"]
        if retry_after_s is not None:
            error["retry_after_s"] = retry_after_s
        await self.send({"type": "error", "error": error})

    async def shutdown_notice(self, ws: web.WebSocketResponse) -> None:
        await self.error("shutting_down", "the server is stopping")

    async def start(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        await self.send({"type": "session.created", "session": self._session()})

    def finish(self) -> None:
        for task in (self.active, self.switching):
            if task is not None:
                task.cancel()

    async def on_session_update(self, event: dict[str, Any], received: float) -> None:
        session = event.get("session")
        if not isinstance(session, dict):
            await self.error("bad_request", "session.update needs a 'session' object", event)
            return
        name, instructions = session.get("persona"), session.get("instructions")
        if name is not None and not isinstance(name, str):
            await self.error("bad_request", "'session.persona' must be a string", event)
            return
        if instructions is not None and not isinstance(instructions, str):
            await self.error("bad_request", "'session.instructions' must be a string", event)
            return
        if name is not None and name not in self.state.config.personas:
            known = ", ".join(sorted(self.state.config.personas))
            await self.error("unknown_persona", f"no persona {name[:100]!r} (known: {known})", event)
            return
        refusal = check_prompt(self.state.config.limits.max_inflight, self.switches, self.state.rate, None)
        if refusal is not None:
            await self.error(refusal.code, refusal.message, event)
            return
        if instructions is not None:  # the system prompt of the responses created from now on
            self.instructions = message("system", instructions) if instructions else None
        persona = self.state.persona(name) if name is not None else self.persona
        self.switches += 1
        self.switching = background(self._switch(persona, received, self.switching))

    async def _switch(self, persona: Persona, received: float, previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait((previous,))
            if persona is not self.persona:
                await self.state.switch_delay(persona, received)
                self.persona = persona
            await self.send({"type": "session.updated", "session": self._session()})
        finally:
            self.switches -= 1

    async def on_item_create(self, event: dict[str, Any], received: float) -> None:
        item = event.get("item")
        content = item.get("content") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "message" or not isinstance(content, list):
            await self.error(
                "bad_request", "conversation.item.create needs an 'item' of type 'message' with a 'content' list", event
            )
            return
        parts = [part.get("text") for part in content if isinstance(part, dict)]
        texts = [text for text in parts if isinstance(text, str)]
        if len(texts) != len(parts):
            await self.error("bad_request", "every content part needs a string 'text'", event)
            return
        role, item_id = item.get("role", "user"), item.get("id")
        if not isinstance(role, str) or (item_id is not None and not isinstance(item_id, str)):
            await self.error("bad_request", "an item's 'role' and 'id' must be strings", event)
            return
        if item_id in self.items:
            await self.error("bad_request", f"an item with id {item_id[:100]!r} exists", event)
            return
        item_id = item_id or self._id("item")
        self._add(item_id, message(role, " ".join(texts)))
        stored = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": role,
            "content": content,
        }
        await self.send({"type": "conversation.item.created", "item": stored})

    def _add(self, item_id: str, item: Message) -> None:
        """Add an item to the conversation, dropping the oldest turns beyond `--max-context-tokens`."""
        items = self.items
        items[item_id] = item
        fixed = [item] if self.instructions is None else [self.instructions, item]
        drop = over_budget(list(items.values())[:-1], fixed, self.state.config.max_context_tokens)
        for old in list(itertools.islice(items, drop)):
            del items[old]

    async def on_item_delete(self, event: dict[str, Any], received: float) -> None:
        item_id = event.get("item_id")
        if not isinstance(item_id, str):
            await self.error("bad_request", "conversation.item.delete needs a string 'item_id'", event)
            return
        if self.items.pop(item_id, None) is None:
            await self.error("item_not_found", f"no item {item_id[:100]!r} in the conversation", event)
            return
        await self.send({"type": "conversation.item.deleted", "item_id": item_id})

    async def on_response_create(self, event: dict[str, Any], received: float) -> None:
        if self.active is not None and not self.active.done():
            await self.error(
                "conversation_already_has_active_response",
                "a response is in progress; wait for response.done or send response.cancel",
                event,
            )
            return
        refusal = check_prompt(0, 0, self.state.rate, self.bucket)
        if refusal is not None:
            await self.error(refusal.code, refusal.message, event, refusal.retry_after_s)
            return
        options = event.get("response")
        if not isinstance(options, dict):
            options = {}
        limit = options.get("max_output_tokens")
        max_tokens = limit if type(limit) is int and limit >= 1 else None
        self.state.metrics.prompts.labels(PROTOCOL).inc()
        system = [self.instructions] if self.instructions is not None else []
        context = [*system, *self.items.values()]
        prefill = self.state.admit(self.cache, context)
        self.active = background(self._respond(received, max_tokens, context, prefill))

    async def _respond(self, received: float, max_tokens: int | None, context: list[Message], prefill: Prefill) -> None:
        response_id, item_id = self._id("resp"), self._id("item")
        await self.send(
            {
                "type": "response.created",
                "response": {"id": response_id, "object": "realtime.response", "status": "in_progress"},
            }
        )
        if self.switching is not None and not self.switching.done():
            await asyncio.wait((self.switching,))  # a response created during a switch uses the new persona
            received = time.monotonic()
        persona, ws = self.persona, self.ws
        assert ws is not None
        sent = 0  # tokens sent: the text so far is token_text(0, sent), so it need not be kept

        async def send_delta(slot: FrameSlot) -> None:
            nonlocal sent
            sent += slot.tokens
            try:
                await ws.send_str(
                    _DELTA % (self._id("event"), response_id, item_id, token_text(slot.first_token, slot.tokens))
                )
            except ConnectionError:
                pass

        try:
            result = await self.state.generate(
                persona, self.state.next_turn_key(), received, max_tokens, send_delta, PROTOCOL, self.transport, prefill
            )
        except asyncio.CancelledError:
            await self._done(response_id, "cancelled", prefill, sent)
            raise
        if result.injected:
            await self.error("injected", "injected fault: the response failed")
            await self._done(response_id, "failed", prefill, result.tokens)
            return
        text = token_text(0, result.tokens)
        self.state.remember(self.cache, context, text)
        self._add(item_id, message("assistant", text))  # a completed response joins the conversation
        await self.send(
            {
                "type": "response.output_text.done",
                "response_id": response_id,
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "text": text,
            }
        )
        output = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
            "status": "completed",
        }
        await self._done(response_id, "completed", prefill, result.tokens, [output])

    async def _done(
        self, response_id: str, status: str, prefill: Prefill, output_count: int, output: list[Any] | None = None
    ) -> None:
        input_count, cached = prefill
        usage = {
            "total_tokens": input_count + output_count,
            "input_tokens": input_count,
            "output_tokens": output_count,
            "cached_tokens": cached,
        }
        await self.send(
            {
                "type": "response.done",
                "response": {
                    "id": response_id,
                    "object": "realtime.response",
                    "status": status,
                    "output": output or [],
                    "usage": usage,
                },
            }
        )

    async def on_response_cancel(self, event: dict[str, Any], received: float) -> None:
        if self.active is None or self.active.done():
            await self.error("response_cancel_not_active", "there is no response in progress", event)
            return
        self.active.cancel()


RealtimeConnection.handlers = {
    "session.update": RealtimeConnection.on_session_update,
    "conversation.item.create": RealtimeConnection.on_item_create,
    "conversation.item.delete": RealtimeConnection.on_item_delete,
    "response.create": RealtimeConnection.on_response_create,
    "response.cancel": RealtimeConnection.on_response_cancel,
}
