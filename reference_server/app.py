"""The aiohttp application and the life of one server process: listen, serve, shut down cleanly."""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import resource
import signal
import sys
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST

from reference_server.config import ServerConfig
from reference_server.gctune import GcTuner
from reference_server.guard import ConnectionGuard, count_http_refusals, on_response_prepare
from reference_server.http_errors import error_response
from reference_server.listen import BACKLOG, ListenError, StartupError, http_url
from reference_server.metrics import ServerMetrics
from reference_server.native_ws import handle_native
from reference_server.openai_http import handle_chat_completions, handle_completions
from reference_server.realtime_ws import handle_realtime
from reference_server.state import STATE, ServerState
from reference_server.storm import handle_admin_drop, on_storm_signal

__all__ = ["build_app", "run_worker", "serve"]

log = logging.getLogger("reference_server")

#: Paths that never need the bearer token.
OPEN_PATHS = frozenset({"/healthz", "/metrics"})
HOUSEKEEPING_S = 0.5
CLOSE_TIMEOUT_S = 3.0
#: An idle keep-alive HTTP connection is closed after this long (aiohttp's keepalive_timeout; its
#: 3630 s default would let idle connections pile up). Later than any handshake timeout, so the
#: counted handshake timeout fires first for a connection's first request.
KEEPALIVE_S = 75.0


def build_app(state: ServerState) -> web.Application:
    """Routes for all three protocols plus /healthz and /metrics (and /admin/drop with `--admin`);
    bearer auth when configured."""
    middlewares = [_auth_middleware(state)] if state.config.token else []
    app = web.Application(middlewares=middlewares, client_max_size=max(state.config.max_message_bytes, 1024))
    app[STATE] = state
    app.on_response_prepare.append(on_response_prepare)  # stops the connection's handshake timer
    app.router.add_get("/ws", handle_native)
    app.router.add_get("/v1/realtime", handle_realtime)
    app.router.add_post("/v1/chat/completions", handle_chat_completions)
    app.router.add_post("/v1/completions", handle_completions)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    if state.config.admin:
        app.router.add_post("/admin/drop", handle_admin_drop)
    return app


def _auth_middleware(state: ServerState) -> Middleware:
    expected = f"Bearer {state.config.token}".encode()

    @web.middleware
    async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in OPEN_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                state.metrics.error("unauthorized")
                response = error_response(401, "unauthorized", "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        return await handler(request)

    return auth


async def _healthz(request: web.Request) -> web.Response:
    if request.app[STATE].shutting_down:
        return web.Response(status=503, text="shutting down\n")
    return web.Response(text="ok\n")


async def _metrics(request: web.Request) -> web.Response:
    body = request.app[STATE].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _housekeeping(state: ServerState, gc_tuner: GcTuner) -> None:
    """Flush per-frame tallies into the counters; sample detached sessions, RSS and CPU; tune the GC."""
    ticks = 0
    while True:
        await asyncio.sleep(HOUSEKEEPING_S)
        state.metrics.flush()
        state.metrics.sessions_detached.set(state.registry.detached)
        state.http_buckets.prune()
        gc_tuner.tick(len(state.sockets))
        ticks += 1
        if ticks % 2 == 0:
            state.metrics.sample_process()


async def _close_sockets(state: ServerState) -> None:
    """Tell every WebSocket client the server is stopping, and close with 1001."""

    async def close(ws: web.WebSocketResponse, notice: Callable[[web.WebSocketResponse], Awaitable[None]]) -> None:
        try:
            await notice(ws)
            await ws.close(code=1001, message=b"server shutting down")
        except (ConnectionError, RuntimeError):
            pass

    pending = [asyncio.ensure_future(close(ws, conn.shutdown_notice)) for ws, conn in list(state.sockets.items())]
    if pending:
        _, late = await asyncio.wait(pending, timeout=CLOSE_TIMEOUT_S)
        for task in late:
            task.cancel()


async def serve(config: ServerConfig, worker: int = 0, ready_fd: int | None = None, loop_name: str = "asyncio") -> int:
    """Serve until SIGTERM or SIGINT (SIGUSR1: a reconnect storm); returns the exit code."""
    _raise_fd_limit()
    gc_tuner = GcTuner()
    metrics = ServerMetrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") if ready_fd is not None else None)
    metrics.watch_gc()
    state = ServerState(config, metrics, worker)
    # timeout_ceil_threshold: aiohttp rounds timers longer than it (5 s by default) up to a whole
    # second, so every session's 20 s heartbeat fired in the same loop iteration: thousands of
    # pings at once, a pause of tens of ms each second. Unrounded, they stay spread out.
    limits = config.limits
    runner = web.AppRunner(
        build_app(state),
        access_log=None,
        handle_signals=False,
        shutdown_timeout=CLOSE_TIMEOUT_S,
        timeout_ceil_threshold=float("inf"),
        logger=count_http_refusals(metrics),
        max_line_size=limits.max_header_bytes,
        max_field_size=limits.max_header_bytes,
        keepalive_timeout=max(KEEPALIVE_S, 2 * limits.handshake_timeout_s),
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    assert runner.server is not None
    guard = ConnectionGuard(runner.server, limits, metrics)
    try:
        # Not a web.TCPSite: the site would hand aiohttp's protocol factory to the loop unguarded.
        listener = await loop.create_server(guard, config.host, config.port, backlog=BACKLOG, reuse_port=True)
    except OSError as exc:
        await runner.cleanup()
        raise ListenError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, on_storm_signal, state)
    housekeeping = asyncio.ensure_future(_housekeeping(state, gc_tuner))
    gc_tuner.start()
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    else:
        port = listener.sockets[0].getsockname()[1] if listener.sockets else config.port
        print(
            f"reference_server: listening on {http_url(config.host, port)} "
            f"(1 process, {loop_name} loop, pid {os.getpid()})",
            file=sys.stderr,
            flush=True,
        )
    await stop.wait()
    state.shutting_down = True
    listener.close()
    await _close_sockets(state)
    state.registry.close_all()
    housekeeping.cancel()
    await runner.cleanup()
    metrics.flush()
    return 0


def _raise_fd_limit() -> None:
    """One open file per session: take the hard limit (20,000 on the benchmark machine)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.warning("cannot raise the open-file limit from %d to %d", soft, hard)


def run_worker(config: ServerConfig, worker: int = 0, ready_fd: int | None = None) -> int:
    """Run one server process on the event loop `config.loop` asks for."""
    loop_factory, loop_name = _loop_factory(config.loop)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(serve(config, worker, ready_fd, loop_name))


def _loop_factory(name: str) -> tuple[Callable[[], asyncio.AbstractEventLoop] | None, str]:
    """`auto` takes uvloop when it imports; `asyncio` is the standard loop.

    uvloop's timers have whole-millisecond resolution, but the standard selector loop is coarser
    in practice: it rounds every poll timeout *up* to a whole millisecond, so a timer due in 0.1 ms
    fires about 1 ms late. Measured with benchmarks/server_capacity.py (10,000 sessions, 300
    prompts/s): first-frame error p99 <= 2.0 ms with uvloop, <= 3.0 ms with asyncio. Deadlines use
    time.monotonic() (uvloop's loop.time() is truncated to the millisecond) and re-sleep when woken
    early, so uvloop's rounding never sends a frame early.
    """
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise StartupError("--loop uvloop: uvloop is not installed") from None
        else:
            return uvloop.new_event_loop, "uvloop"
    return None, "asyncio"
