"""A hostile native-protocol (`/ws`) server: every turn but the good ones breaks the protocol.

    with HostileNativeServer(error_codes_per_turn=400) as server:
        run rtbench against server.url
        server.turns            # prompts answered, by script entry

It speaks the native protocol of reference_server/PROTOCOL.md (session, prompt -> token... done,
with `seq` numbered right), and answers the n-th prompt of the whole server with `SCRIPT[n %
len(SCRIPT)]`: a good turn, or one whose `done` carries a string, negative, huge or fractional
`usage.output_tokens`, a token frame with a string count, a frame that is not JSON, or a burst of
`error_codes_per_turn` error frames for the turn, each with a code never sent before (and some with
codes that are very long or hold control characters). Every broken turn is a protocol error of
that turn; no turn is left without an answer. It runs on an asyncio loop in a thread of the test
process; `rtbench run` is the subprocess.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from typing import Any

from aiohttp import WSMsgType, web
from support.loop_thread import LoopThreadServer

__all__ = ["HostileNativeServer", "SCRIPT"]

#: What the server does with each prompt, in turn.
SCRIPT = (
    "good",
    "string_usage",
    "negative_usage",
    "error_burst",
    "huge_usage",
    "float_usage",
    "string_count",
    "not_json",
    "list_usage",
    "dict_code",
)


class HostileNativeServer(LoopThreadServer):
    """The server; a context manager listening on a free 127.0.0.1 port while open."""

    def __init__(self, error_codes_per_turn: int = 300, tokens: int = 3) -> None:
        super().__init__()
        self._codes_per_turn = error_codes_per_turn
        self._tokens = tokens
        self._prompts = itertools.count()
        self._codes = itertools.count()
        #: Prompts answered, by script entry.
        self.turns: Counter[str] = Counter()
        #: Distinct error codes sent.
        self.codes_sent = 0
        self._open: set[web.WebSocketResponse] = set()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        for ws in list(self._open):
            await ws.close(code=1001, message=b"server shutdown")
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._open.add(ws)
        seq = itertools.count(1)
        await ws.send_str(json.dumps({"type": "session", "session_id": "s", "resume_token": "r", "persona": None}))
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if data.get("type") == "prompt":
                await self._answer(ws, seq, data["id"], SCRIPT[next(self._prompts) % len(SCRIPT)])
        self._open.discard(ws)
        return ws

    async def _answer(self, ws: web.WebSocketResponse, seq: itertools.count[int], turn: str, how: str) -> None:
        self.turns[how] += 1

        async def send(frame: dict[str, Any]) -> None:
            if frame["type"] in ("token", "done"):
                frame["seq"] = next(seq)
            await ws.send_str(json.dumps(frame))

        if how == "not_json":
            await ws.send_str("{this is not json")
            return
        if how in ("error_burst", "dict_code"):
            await send({"type": "token", "id": turn, "text": "tok0 ", "count": 1, "ts": time.time()})
            codes: list[Any] = []
            if how == "dict_code":
                codes = [{"nested": ["code"]}, 12345, None, ["list"]]
            else:
                for _ in range(self._codes_per_turn):
                    n = next(self._codes)
                    codes.append(f"code_{n}" if n % 10 else f"weird code\n\x00{n}\u2603" + "x" * 300)
                self.codes_sent += len(codes)
            for code in codes:
                await send({"type": "error", "id": turn, "code": code, "message": f"hostile {code!r}"})
            return
        count: Any = "2" if how == "string_count" else 1
        for i in range(self._tokens):
            await send({"type": "token", "id": turn, "text": f"tok{i} ", "count": count, "ts": time.time()})
        usage: Any = {
            "good": self._tokens,
            "string_usage": str(self._tokens),
            "negative_usage": -117,
            "huge_usage": 10**30,
            "float_usage": 2.5,
            "string_count": self._tokens,
            "list_usage": [self._tokens],
        }[how]
        await send(
            {"type": "done", "id": turn, "usage": {"output_tokens": usage, "input_tokens": 2}, "ts": time.time()}
        )
