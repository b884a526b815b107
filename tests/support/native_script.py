"""A scripted native-protocol (`/ws`) server for recovery tests: drops and resumes on cue.

    with DroppingNativeServer(drop_on_prompt=2, drop_after_tokens=3, resume_delay_s=0.3) as server:
        run rtbench against server.url
        server.drops          # one DropRecord per drop, timed on the server's monotonic clock

It speaks the native protocol of reference_server/PROTOCOL.md (session, prompt -> token... done,
resume -> resumed + replay, resume_failed), with one scripted fault: a session opened by a
connection that does not resume (a user's first session), up to `drop_sessions` of them, loses
its connection abruptly (TCP abort, no close frame) on its `drop_on_prompt`-th prompt, right
after that turn's `drop_after_tokens`-th token. Generation goes on while the session is detached,
into its replay buffer. The resume of the n-th drop (from 0) is answered `resume_delay_s(n)`
after it arrives, or refused when `refuse_resume(n)` says so, so the time from the drop to the
`resumed` frame is known exactly. It runs on an asyncio loop in a thread of
the test process; `rtbench run` is the subprocess.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["DropRecord", "DroppingNativeServer"]


@dataclass
class DropRecord:
    """One scripted drop and what became of it (times: the server's `time.perf_counter()`)."""

    #: The drop's number, from 0, in the order drops happened.
    number: int
    dropped_at: float
    #: When the `resumed` frame (or the `resume_failed` error) was sent; None: no resume came.
    answered_at: float | None = None
    refused: bool = False
    #: The `last_seq` the client asked to resume after, and the frames replayed for it.
    last_seq: int | None = None
    replayed: int = 0


@dataclass
class _Session:
    index: int
    id: str
    token: str
    seq: int = 0
    prompts: int = 0
    #: Opened by a connection that then resumed another session: never dropped by the script.
    reconnected: bool = False
    ws: web.WebSocketResponse | None = None
    request: web.Request | None = None
    buffer: list[tuple[int, str]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    drop: DropRecord | None = None

    async def emit(self, msg: dict[str, Any]) -> None:
        """Number `msg`, keep it for replay and send it if a connection is attached."""
        async with self.lock:
            self.seq += 1
            text = json.dumps({**msg, "seq": self.seq, "ts": time.time()})
            self.buffer.append((self.seq, text))
            if self.ws is not None:
                try:
                    await self.ws.send_str(text)
                except ConnectionError:
                    self.ws = None


class DroppingNativeServer:
    """The server; a context manager listening on a free 127.0.0.1 port while open."""

    def __init__(
        self,
        *,
        tokens: int = 10,
        ttft_s: float = 0.02,
        itl_s: float = 0.02,
        drop_sessions: int = 1_000_000,
        drop_on_prompt: int = 2,
        drop_after_tokens: int = 3,
        resume_delay_s: float | Callable[[int], float] = 0.3,
        refuse_resume: Callable[[int], bool] = lambda number: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`sleep` is how the caller waits for the server to start and stop: pass `gevent.sleep`
        when clients run on gevent in the calling thread, so they can answer the close frames."""
        self.tokens, self.ttft_s, self.itl_s = tokens, ttft_s, itl_s
        self.drop_sessions, self.drop_on_prompt, self.drop_after_tokens = (
            drop_sessions,
            drop_on_prompt,
            drop_after_tokens,
        )
        self._resume_delay = resume_delay_s if callable(resume_delay_s) else (lambda number: resume_delay_s)
        self._refuse = refuse_resume
        self._sleep = sleep
        #: Every scripted drop, in order.
        self.drops: list[DropRecord] = []
        #: Sessions by resume token.
        self.sessions: dict[str, _Session] = {}
        self._numbers = itertools.count()
        self._open: set[web.WebSocketResponse] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def __enter__(self) -> DroppingNativeServer:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *_: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _call(self, coroutine: Any, timeout: float = 10.0) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                future.cancel()
                raise TimeoutError("the scripted server did not start or stop in time")
            self._sleep(0.01)
        future.result()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for ws in list(self._open):  # as a server going down: close frame 1001, then the socket
            await ws.close(code=1001, message=b"server shutdown")
        if self._runner is not None:
            await self._runner.cleanup()

    # -- one connection -------------------------------------------------------------------------

    def _new_session(self) -> _Session:
        n = next(self._numbers)
        session = _Session(index=n, id=f"s-{n}", token=f"r-{n}")
        self.sessions[session.token] = session
        return session

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._open.add(ws)
        session = self._new_session()
        session.ws, session.request = ws, request
        await ws.send_str(
            json.dumps(
                {
                    "type": "session",
                    "session_id": session.id,
                    "resume_token": session.token,
                    "persona": "default",
                    "ts": time.time(),
                }
            )
        )
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data["type"] == "prompt":
                session.prompts += 1
                asyncio.ensure_future(self._generate(session, data["id"], session.prompts))
            elif data["type"] == "resume":
                session = await self._resume(session, ws, request, data)
        if session.ws is ws:
            session.ws = None
        self._open.discard(ws)
        return ws

    async def _resume(
        self, fresh: _Session, ws: web.WebSocketResponse, request: web.Request, data: dict[str, Any]
    ) -> _Session:
        fresh.reconnected = True
        target = self.sessions.get(data["resume_token"])
        last_seq = data["last_seq"]
        record = target.drop if target is not None else None
        number = record.number if record is not None else -1
        await asyncio.sleep(self._resume_delay(number))
        if target is None or self._refuse(number):
            if record is not None:
                record.answered_at, record.refused, record.last_seq = time.perf_counter(), True, last_seq
            await ws.send_str(
                json.dumps(
                    {"type": "error", "code": "resume_failed", "message": "refused by the script", "ts": time.time()}
                )
            )
            return fresh
        async with target.lock:
            missed = [text for seq, text in target.buffer if seq > last_seq]
            if record is not None:
                record.answered_at, record.last_seq, record.replayed = time.perf_counter(), last_seq, len(missed)
            await ws.send_str(
                json.dumps(
                    {
                        "type": "resumed",
                        "session_id": target.id,
                        "last_seq": last_seq,
                        "replayed": len(missed),
                        "resume_token": target.token,
                        "ts": time.time(),
                    }
                )
            )
            for text in missed:
                await ws.send_str(text)
            target.ws, target.request = ws, request
        del self.sessions[fresh.token]
        self.sessions[fresh.token] = target  # the fresh token becomes an alias
        return target

    async def _generate(self, session: _Session, turn_id: str, number: int) -> None:
        drops_here = (
            not session.reconnected
            and number == self.drop_on_prompt
            and session.drop is None
            and len(self.drops) < self.drop_sessions
        )
        for i in range(self.tokens):
            await asyncio.sleep(self.ttft_s if i == 0 else self.itl_s)
            await session.emit({"type": "token", "id": turn_id, "text": f"tok{i} ", "count": 1})
            if drops_here and i + 1 == self.drop_after_tokens and len(self.drops) < self.drop_sessions:
                self._drop(session)
        await session.emit(
            {
                "type": "done",
                "id": turn_id,
                "persona": "default",
                "prompt_ts": time.time(),
                "usage": {"input_tokens": 2, "output_tokens": self.tokens},
            }
        )

    def _drop(self, session: _Session) -> None:
        request = session.request
        session.drop = DropRecord(len(self.drops), time.perf_counter())
        self.drops.append(session.drop)
        session.ws = None
        if request is not None and request.transport is not None:
            request.transport.abort()
