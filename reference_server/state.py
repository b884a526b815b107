"""The per-process server state shared by the protocol handlers, and the one way to run a turn."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from reference_server.config import DEFAULT_PERSONA, ServerConfig
from reference_server.context import CacheStore, Message, Prefill, PrefixCache, context_tokens, count_tokens
from reference_server.faults import FaultInjector
from reference_server.latency import Persona, plan_turn, turn_rng
from reference_server.limits import BucketStore, RateLimiter, SessionGate
from reference_server.metrics import ServerMetrics
from reference_server.sessions import SessionRegistry
from reference_server.streaming import Cork, SendFrame, SlotPool, TurnResult, run_turn, sleep_until

__all__ = ["STATE", "ServerState", "background", "input_tokens", "wall_time_of"]

log = logging.getLogger("reference_server")


@dataclass
class ServerState:
    """Everything one server process shares between connections."""

    config: ServerConfig
    metrics: ServerMetrics
    worker: int = 0
    faults: FaultInjector = field(init=False)
    slots: SlotPool = field(init=False)
    registry: SessionRegistry = field(init=False)
    #: Open sessions (WebSockets and HTTP completions in flight) against `--max-sessions`.
    gate: SessionGate = field(init=False)
    #: Per-session prompt rate limits, and the buckets of HTTP clients by Authorization value.
    rate: RateLimiter = field(init=False)
    http_buckets: BucketStore = field(init=False)
    #: Prefix caches of HTTP clients by the body's `user` string.
    http_caches: CacheStore = field(init=False)
    #: Open WebSockets and their protocol connections (ws_common.WebSocketConnection): closed with
    #: 1001 at shutdown after the connection's `shutdown_notice`, aborted through its `transport` by a storm.
    sockets: dict[web.WebSocketResponse, Any] = field(default_factory=dict)
    shutting_down: bool = False
    _turns: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        cfg = self.config
        self.faults = FaultInjector(cfg.faults, cfg.seed, self.worker)
        self.slots = SlotPool(cfg.slots, self.metrics)
        limits = cfg.limits
        self.registry = SessionRegistry(
            cfg.resume_ttl_s,
            cfg.replay_buffer,
            limits.max_detached_sessions,
            lambda: self.metrics.reject("detached_evicted"),
            limits.max_replay_bytes,
        )
        self.gate = SessionGate(limits.max_sessions)
        self.rate = RateLimiter(limits.rate_limit_per_s, limits.burst)
        self.http_buckets = BucketStore(self.rate)
        self.http_caches = CacheStore(limits.max_detached_sessions)

    @property
    def keeps_context(self) -> bool:
        """Whether every native session keeps its context (the prefill model is on), or only those
        that use the conversation fields."""
        return self.config.prefill_ms_per_1k > 0

    def admit(self, cache: PrefixCache | None, context: Sequence[Message]) -> Prefill:
        """A new turn's input: `context`'s tokens, and those `cache` holds (none with `--prefix-cache off`)."""
        if cache is None or self.config.prefix_cache != "on":
            return Prefill(context_tokens(context))
        return cache.lookup(context)

    def remember(self, cache: PrefixCache | None, context: Sequence[Message], reply: str) -> None:
        """A turn with `context` completed with `reply`: `cache` holds both (with `--prefix-cache on`)."""
        if cache is not None and self.config.prefix_cache == "on":
            cache.store(context, reply)

    def persona(self, name: str | None) -> Persona:
        """The persona called `name`, or the default one."""
        return self.config.personas.get(name or DEFAULT_PERSONA) or self.config.personas[DEFAULT_PERSONA]

    def next_turn_key(self) -> tuple[str, int]:
        """An rng key for a turn outside any native session (HTTP, Realtime)."""
        return ("turn", next(self._turns))

    async def generate(
        self,
        persona: Persona,
        key: tuple[object, ...],
        received: float,
        max_tokens: int | None,
        send: SendFrame,
        protocol: str,
        transport: asyncio.BaseTransport | None = None,
        prefill: Prefill | None = None,
        reasoning: int = 0,
    ) -> TurnResult:
        """Run one turn: wait for a slot, draw its plan, send its frames on time, maybe fail it.

        `transport` is the connection's, for corking back-to-back frames (None: no corking).
        `prefill` (from `admit`) delays the first frame by the prefill model's cost, from the slot's
        grant, and its input tokens are counted (`rtref_input_tokens_total`). `reasoning` tokens
        come before the answer's (`plan_turn`); the caller sends them as reasoning.
        """
        prefill_ms = prefill.ms(self.config.prefill_ms_per_1k) if prefill is not None else 0.0
        if prefill is not None:
            self.metrics.input_tokens.labels(protocol).inc(prefill.input_tokens)
        async with self.slots.hold(received) as origin:
            profile = persona.profile
            rng = turn_rng(profile, self.config.seed, self.worker, *key)
            plan = plan_turn(profile, rng, max_tokens, prefill_ms, reasoning)
            fail_at = self.faults.error_frame(math.ceil(plan.tokens / profile.tokens_per_frame))
            result = await run_turn(
                plan, origin, send, self.metrics.tallies[protocol], self.metrics, self.faults, fail_at, Cork(transport)
            )
        if result.injected:
            self.metrics.faults.labels("error").inc()  # the protocol counts the error frame it sends
        return result

    async def switch_delay(self, persona: Persona, received: float) -> None:
        """The persona's switch cost, counted from `received`."""
        await sleep_until(received + persona.switch_ms / 1000.0)


STATE = web.AppKey("state", ServerState)


def input_tokens(text: str) -> int:
    """Prompt tokens, counted as whitespace-separated words (the token rule: context.count_tokens)."""
    return count_tokens(text)


def wall_time_of(monotonic_time: float) -> float:
    """The wall-clock time (`time.time()`) of a past `time.monotonic()` reading."""
    return time.time() - (time.monotonic() - monotonic_time)


def background(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """Run `coro` as a task whose failure is logged in one line (never an unretrieved traceback)."""
    task = asyncio.ensure_future(coro)
    task.add_done_callback(_log_failure)
    return task


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("a background task failed: %r", task.exception())
