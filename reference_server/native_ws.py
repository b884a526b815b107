"""The native JSON chat protocol on `/ws`: sessions, prompts, personas, resume and ping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from aiohttp import web

from reference_server.context import Conversation, Message, Prefill, message
from reference_server.jsonwire import dumps
from reference_server.latency import FrameSlot, token_text
from reference_server.limits import Refusal, check_prompt
from reference_server.sessions import Session
from reference_server.state import STATE, ServerState, input_tokens, wall_time_of
from reference_server.ws_common import MessageHandler, serve_websocket

__all__ = ["handle_native"]

PROTOCOL = "native"
#: The longest turn `id` accepted: it is echoed in every frame of the turn and kept in the replay buffer.
MAX_TURN_ID_CHARS = 256
_TOKEN = '{"type":"token","id":%s,"seq":%d,"text":"%s","count":%d,"ts":%.6f}'


async def handle_native(request: web.Request) -> web.StreamResponse:
    """`GET /ws`: one native session per connection (or the session it resumes)."""
    state = request.app[STATE]
    return await serve_websocket(request, state, PROTOCOL, NativeConnection(state, request.transport))


async def _send(ws: web.WebSocketResponse | None, payload: str) -> None:
    """Send if a connection is attached; a connection that went away is not an error here."""
    if ws is not None:
        try:
            await ws.send_str(payload)
        except ConnectionError:
            pass


class _Turn(NamedTuple):
    """A prompt's place in its session's conversation (`conversation` None: the session keeps none)."""

    conversation: Conversation | None
    context: Sequence[Message]
    prefill: Prefill
    epoch: int


def _conversation_fields(msg: dict[str, Any]) -> tuple[str | None, bool, int | None] | str:
    """A prompt's `system`, `reset` and `keep_turns` fields, or what is wrong with them."""
    system, reset, keep = msg.get("system"), msg.get("reset", False), msg.get("keep_turns")
    if system is not None and not isinstance(system, str):
        return "'system' must be a string"
    if type(reset) is not bool:
        return "'reset' must be true or false"
    if keep is not None and (type(keep) is not int or keep < 0):
        return "'keep_turns' must be an integer >= 0"
    return system, reset, keep


class NativeConnection:
    """One `/ws` connection and the session attached to it."""

    handlers: ClassVar[Mapping[str, MessageHandler]]
    __slots__ = ("state", "ws", "transport", "session")

    def __init__(self, state: ServerState, transport: asyncio.BaseTransport | None) -> None:
        self.state = state
        self.ws: web.WebSocketResponse | None = None
        self.transport = transport
        self.session: Session | None = None

    async def start(self, ws: web.WebSocketResponse) -> None:
        state, registry = self.state, self.state.registry
        self.ws = ws
        session = self.session = registry.create(state.persona(None).name)
        session.bucket = state.rate.bucket()
        registry.attach(session, ws)
        await self.send(
            {
                "type": "session",
                "session_id": session.id,
                "resume_token": session.resume_token,
                "persona": session.persona,
                "ts": time.time(),
            }
        )

    def finish(self) -> None:
        if self.session is not None:
            self.state.registry.detach(self.session, self.ws)

    async def send(self, frame: dict[str, Any]) -> None:
        await _send(self.ws, dumps(frame))

    async def error(
        self, code: str, message: str, msg: dict[str, Any] | None = None, retry_after_s: float | None = None
    ) -> None:
        self.state.metrics.error(code)
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        turn_id = msg.get("id") if msg else None
        if isinstance(turn_id, str) and len(turn_id) <= MAX_TURN_ID_CHARS:
            frame["id"] = turn_id
        if retry_after_s is not None:
            frame["retry_after_s"] = retry_after_s
        frame["ts"] = time.time()
        await self.send(frame)

    async def _refused(self, session: Session, msg: dict[str, Any], prompt: bool = True) -> bool:
        """Send the error if the session may not start another prompt (or, `prompt` False, switch) now."""
        refusal: Refusal | None = check_prompt(
            self.state.config.limits.max_inflight,
            session.in_flight,
            self.state.rate,
            session.bucket if prompt else None,
        )
        if refusal is None:
            return False
        await self.error(refusal.code, refusal.message, msg, refusal.retry_after_s)
        return True

    async def shutdown_notice(self, ws: web.WebSocketResponse) -> None:
        await self.error("shutting_down", "the server is stopping")

    # -- client messages ---------------------------------------------------------------------

    async def on_prompt(self, msg: dict[str, Any], received: float) -> None:
        turn_id, text, max_tokens = msg.get("id"), msg.get("text"), msg.get("max_tokens", None)
        if not isinstance(turn_id, str) or not isinstance(text, str) or len(turn_id) > MAX_TURN_ID_CHARS:
            await self.error(
                "bad_request",
                f"prompt needs string fields 'id' (at most {MAX_TURN_ID_CHARS} characters) and 'text'",
                msg,
            )
            return
        if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
            await self.error("bad_request", "'max_tokens' must be an integer >= 1", msg)
            return
        session = self.session
        assert session is not None
        ack = msg.get("ack", None)
        if ack is not None:
            if type(ack) is not int or not 0 <= ack <= session.buffer.last_seq:
                await self.error(
                    "bad_request",
                    f"'ack' must be an integer from 0 to the last seq sent ({session.buffer.last_seq})",
                    msg,
                )
                return
            session.buffer.trim(ack)
        fields = _conversation_fields(msg)
        if isinstance(fields, str):
            await self.error("bad_request", fields, msg)
            return
        if await self._refused(session, msg):
            return
        self.state.metrics.prompts.labels(PROTOCOL).inc()
        session.turn_count += 1
        turn = self._context(session, text, *fields)
        task = asyncio.ensure_future(self._turn(session, turn_id, max_tokens, received, turn))
        session.track(task)

    def _context(self, session: Session, text: str, system: str | None, reset: bool, keep: int | None) -> _Turn:
        """Apply a prompt's conversation fields; the turn's context and its input and cached tokens.

        A session keeps a context once a prompt used a conversation field, or always when the
        prefill model is on; any other turn's input is its own text alone."""
        state, conversation = self.state, session.conversation
        if conversation is None:
            if system is None and not reset and keep is None and not state.keeps_context:
                return _Turn(None, (), Prefill(input_tokens(text)), 0)
            conversation = session.conversation = Conversation()
        if reset:
            conversation.reset()
        if system is not None:
            conversation.set_system(system)
        if keep is not None:
            conversation.keep(keep)
        context = conversation.context(message("user", text), state.config.max_context_tokens)
        return _Turn(conversation, context, state.admit(conversation.cache, context), conversation.epoch)

    async def _turn(self, session: Session, turn_id: str, max_tokens: int | None, received: float, turn: _Turn) -> None:
        state, buffer, key = self.state, session.buffer, (session.number, session.turn_count)
        prompt_ts = wall_time_of(received)
        switching = session.switching
        if switching is not None and not switching.done():
            await asyncio.wait((switching,))  # a prompt sent during a switch uses the new persona
            received = time.monotonic()
        persona = state.persona(session.persona)
        id_json = dumps(turn_id)
        per_frame = persona.profile.tokens_per_frame

        async def send_frame(slot: FrameSlot) -> None:
            _, first, count = slot
            text = f"tok{first} " if per_frame == 1 else token_text(first, count)
            payload = _TOKEN % (id_json, buffer.last_seq + 1, text, count, time.time())
            buffer.append(payload)
            ws = session.conn
            if ws is not None:
                try:
                    await ws.send_str(payload)
                except ConnectionError:
                    pass

        prefill = turn.prefill
        result = await state.generate(persona, key, received, max_tokens, send_frame, PROTOCOL, self.transport, prefill)
        if result.injected:
            await self._error_to(session, "injected", "injected fault: the turn ends without done", turn_id)
            return
        if turn.conversation is not None:  # the turn completed: it joins the context and the cache
            reply = token_text(0, result.tokens)
            state.remember(turn.conversation.cache, turn.context, reply)
            turn.conversation.complete(turn.epoch, turn.context[-1], reply)
        input_count, cached = prefill
        usage = {"input_tokens": input_count, "output_tokens": result.tokens, "cached_tokens": cached}
        await self._replayable(
            session,
            {
                "type": "done",
                "id": turn_id,
                "seq": buffer.last_seq + 1,
                "usage": usage,
                "persona": persona.name,
                "prompt_ts": round(prompt_ts, 6),
                "ts": time.time(),
            },
        )

    async def on_persona(self, msg: dict[str, Any], received: float) -> None:
        name = msg.get("persona")
        if not isinstance(name, str):
            await self.error("bad_request", "persona needs a string field 'persona'", msg)
            return
        if name not in self.state.config.personas:
            known = ", ".join(sorted(self.state.config.personas))
            await self.error("unknown_persona", f"no persona {name[:100]!r} (known: {known})", msg)
            return
        session = self.session
        assert session is not None
        if await self._refused(session, msg, prompt=False):
            return
        task = asyncio.ensure_future(self._switch(session, name, received, session.switching))
        session.switching = task
        session.track(task)

    async def _switch(
        self, session: Session, name: str, received: float, previous: asyncio.Future[None] | None
    ) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait((previous,))
        await self.state.switch_delay(self.state.persona(name), received)
        session.persona = name
        if session.switching is asyncio.current_task():
            session.switching = None
        await self._replayable(
            session, {"type": "persona", "persona": name, "seq": session.buffer.last_seq + 1, "ts": time.time()}
        )

    async def on_resume(self, msg: dict[str, Any], received: float) -> None:
        token, last_seq = msg.get("resume_token"), msg.get("last_seq")
        if not isinstance(token, str) or type(last_seq) is not int or last_seq < 0:
            await self.error("bad_request", "resume needs 'resume_token' (string) and 'last_seq' (integer >= 0)", msg)
            return
        fresh, registry, metrics = self.session, self.state.registry, self.state.metrics
        assert fresh is not None
        if fresh.busy:
            await self.error("bad_request", "resume must come before any prompt or persona switch", msg)
            return
        target = registry.find(token)
        frames = target.buffer.since(last_seq) if target is not None and target is not fresh else None
        if target is None or frames is None:
            metrics.resumes.labels("failed").inc()
            why = (
                "unknown or expired resume_token"
                if target is None
                else f"last_seq {last_seq} is outside the replay buffer"
                f" ({target.buffer.first_seq - 1}..{target.buffer.last_seq})"
            )
            await self.error("resume_failed", f"{why}; carrying on as session {fresh.id}", msg)
            return
        previous_conn = target.conn
        registry.adopt(target, fresh)
        registry.attach(target, None)  # frames generated during the replay only go to the buffer
        self.session = target
        metrics.resumes.labels("ok").inc()
        await self.send(
            {
                "type": "resumed",
                "session_id": target.id,
                "last_seq": last_seq,
                "replayed": len(frames),
                "resume_token": target.resume_token,
                "ts": time.time(),
            }
        )
        sent = await self._replay(target, frames, last_seq)
        if sent is None:
            await self.error("resume_failed", "the replay buffer overflowed during the replay")
        else:
            metrics.replayed.inc(sent - last_seq)
            registry.attach(target, self.ws)
        if previous_conn is not None and previous_conn is not self.ws and not previous_conn.closed:
            await previous_conn.close(code=4000, message=b"resumed on another connection")

    async def _replay(self, session: Session, frames: list[str], last_seq: int) -> int | None:
        """Send `frames`, then whatever was generated meanwhile; returns the last seq sent."""
        sent = last_seq
        while frames:
            for payload in frames:
                await _send(self.ws, payload)
            sent += len(frames)
            more = session.buffer.since(sent)
            if more is None:
                return None
            frames = more
        return sent

    async def on_ping(self, msg: dict[str, Any], received: float) -> None:
        await self.send({"type": "pong", "id": msg.get("id"), "ts": time.time()})

    # -- helpers -----------------------------------------------------------------------------

    async def _replayable(self, session: Session, frame: dict[str, Any]) -> None:
        payload = dumps(frame)
        session.buffer.append(payload)
        await _send(session.conn, payload)

    async def _error_to(self, session: Session, code: str, message: str, turn_id: str) -> None:
        self.state.metrics.error(code)
        await _send(
            session.conn, dumps({"type": "error", "code": code, "message": message, "id": turn_id, "ts": time.time()})
        )


NativeConnection.handlers = {
    "prompt": NativeConnection.on_prompt,
    "persona": NativeConnection.on_persona,
    "resume": NativeConnection.on_resume,
    "ping": NativeConnection.on_ping,
}
