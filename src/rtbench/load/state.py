"""Per-process run state shared by the users of one load process (local runner or worker)."""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
import gevent.lock

from rtbench.config import RunConfig
from rtbench.load.connections import TransportFactory, is_persistent, transport_factory
from rtbench.load.quota import Quota, share_of
from rtbench.load.recovery import Backoff, UptimeLedger
from rtbench.load.session_inputs import SessionPolicy
from rtbench.load.trace_feed import TraceFeed
from rtbench.load.turn_export import TurnExport
from rtbench.metrics.names import FAILURE_KINDS, failure_counter
from rtbench.metrics.recorder import Recorder
from rtbench.prompts.source import PromptSource
from rtbench.protocols.base import ProtocolAdapter, Wire, adapter_class
from rtbench.transports.tally import WireTally
from rtbench.transports.tls import tls_context

__all__ = ["OpenTurn", "ProcessState", "new_adapter", "state_of", "LEDGER_TICK_S", "TURN_COUNTERS"]

#: The counters of the accounting invariant, which each process reports of itself in its gauges.
TURN_COUNTERS = ("turns_sent", "turns_completed", "turns_cancelled", *(failure_counter(k) for k in FAILURE_KINDS))
#: How often each process adds held and down time to its counters.
LEDGER_TICK_S = 0.5


class OpenTurn(Protocol):
    """A turn in flight, as the process sees it at the stop."""

    def cancel(self) -> bool:
        """End the turn as cancelled; False when it had already ended (it is counted elsewhere)."""


@dataclass
class ProcessState:
    """What the users of one process share: the config, the recorder and a few gauges."""

    config: RunConfig
    recorder: Recorder
    rng: random.Random = field(default_factory=random.Random)
    stopping: bool = False
    sessions: int = 0
    users_started: int = 0
    in_flight: int = 0
    idle_rss_bytes: float = 0.0
    #: Set by a session whose protocol settings cannot match the server; stops the run.
    config_error: str | None = None
    #: This process's place among the run's load processes (its share of a fixed amount of work).
    process_index: int = 0
    #: With `--requests`/`--conversations`: this process's share of the work.
    quota: Quota | None = field(init=False, default=None)
    ssl_context: ssl.SSLContext | None = field(init=False, default=None)
    #: Open loop with a cap: this process's share of `max_in_flight`, as a semaphore.
    turn_slots: gevent.lock.Semaphore | None = field(init=False, default=None)
    #: This process's held and down session time (`session_us`, `downtime_us`); see `start_ledger`.
    ledger: UptimeLedger = field(init=False)
    #: Builds the connections of this process's sessions.
    new_transport: TransportFactory = field(init=False)
    #: The bytes and requests of those connections, not yet counted (see `flush_wire`).
    wire: WireTally = field(init=False, default_factory=WireTally)
    #: The turns sent and not yet ended (completed, failed or cancelled) in this process.
    open_turns: set[OpenTurn] = field(init=False, default_factory=set)
    #: What this process's users say (`[prompts]`): read once, shared by its users.
    prompts: PromptSource = field(init=False)
    #: With --export-turns: the rows of this process's ended turns, until shipped.
    turn_export: TurnExport | None = field(init=False, default=None)
    #: A trace run: this process's share of the trace (None in a master that runs no users).
    trace_feed: TraceFeed | None = field(init=False, default=None)
    _policy: SessionPolicy | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        config = self.config
        processes = max(1, config.load.expect_workers or config.load.workers)
        work = config.load.fixed_work
        if work is not None:
            self.quota = Quota(share_of(work[1], processes, self.process_index))
        if config.load.arrival != "closed" and config.load.max_in_flight:
            self.turn_slots = gevent.lock.Semaphore(max(1, config.load.max_in_flight // processes))
        if self.config.target.url.startswith(("wss:", "https:")):
            self.ssl_context = tls_context(self.config.target.ca_file, insecure=self.config.target.insecure)
        self.ledger = UptimeLedger(self.recorder.count)
        self.new_transport = transport_factory(self.config, self.ssl_context, self.wire)
        if config.load.exports_turns:
            self.turn_export = TurnExport(content=config.load.export_content)
        self.prompts = PromptSource(config.prompts, self.rng, config.seed, (self.process_index, processes))

    @property
    def sends_context(self) -> bool:
        """The protocol's adapter sends a conversation's system prompt and history."""
        return adapter_class(self.config.target.protocol).sends_context

    def session_policy(self, adapter: ProtocolAdapter) -> SessionPolicy:
        """What this process's sessions do, from (the first session's) `adapter` and the config."""
        policy = self._policy
        if policy is None:
            config = self.config
            persistent = is_persistent(adapter, config.target.url)
            recovers = persistent and config.recovery.enabled
            backoff = Backoff.from_config(config)
            policy = SessionPolicy(
                persistent,
                recovers,
                adapter.supports_resume,
                adapter.awaits_ready,
                backoff,
                config.target.connect_timeout,
            )
            self._policy = policy
        return policy

    def start_ledger(self, spawn: Callable[..., Any] = gevent.spawn) -> None:
        """Flush the uptime ledger and the wire tally every `LEDGER_TICK_S` from a greenlet made
        by `spawn`: pass the runner's `greenlet.spawn`, so that the ticker dies with the runner."""
        spawn(_tick_ledger, self)

    def flush_wire(self) -> None:
        """Count the transports' bytes and requests since the last flush (`WIRE_COUNTERS`)."""
        for name, n in self.wire.take().items():
            self.recorder.count(name, n)

    def cancel_open_turns(self) -> int:
        """Stop for good: no turn starts any more, and every turn still in flight ends now as
        cancelled (`turns_cancelled`). Called before a process's final flush, so that each sent
        turn is counted once as completed, failed or cancelled; returns how many were cancelled."""
        self.stopping = True
        self.flush_wire()
        turns, self.open_turns = self.open_turns, set()
        cancelled = 0
        for turn in turns:
            if turn.cancel():
                cancelled += 1
                if self.turn_export is not None:
                    self.turn_export.cancelled(turn)
        if cancelled:
            self.recorder.count("turns_cancelled", cancelled)
        return cancelled

    def take_turn_rows(self) -> list[dict[str, Any]]:
        """The turns.jsonl rows of the turns ended since the last call ([] without --export-turns)."""
        return self.turn_export.take() if self.turn_export is not None else []

    def new_adapter(self) -> ProtocolAdapter:
        """A fresh adapter for one session, with the scenario's `[adapter]` options."""
        return new_adapter(self.config)

    def gauges(self) -> dict[str, Any]:
        """The gauges this process reports each interval."""
        return {
            "sessions": self.sessions,
            "users_started": self.users_started,
            "in_flight": self.in_flight,
            "client_rss_idle_bytes": self.idle_rss_bytes,
            "config_error": self.config_error,
            "turns": {name: self.recorder.totals.get(name, 0) for name in TURN_COUNTERS},
            "quota": self.quota.gauge() if self.quota is not None else None,
            "trace_pending": self.trace_feed.pending if self.trace_feed is not None else 0,
        }


def new_adapter(config: RunConfig) -> ProtocolAdapter:
    """An adapter for `config`'s protocol; HTTP adapters also get the target `url` option."""
    cls = adapter_class(config.target.protocol)
    options = dict(config.target.adapter_options)
    if cls.wire is Wire.HTTP_STREAM:
        options.setdefault("url", config.target.url)
    return cls(options)


def _tick_ledger(state: ProcessState) -> None:
    while True:
        gevent.sleep(LEDGER_TICK_S)
        state.ledger.flush()
        state.flush_wire()


def state_of(environment: Any) -> ProcessState:
    """The `ProcessState` attached to a Locust environment by the runner."""
    return environment.rtbench  # type: ignore[no-any-return]
