"""One user's connection lifecycle: connect, notice a drop, reconnect with backoff, resume.

A *drop* is the connection ending while the session is up: the transport's `on_close` that rtbench
did not ask for, or a send that fails. On a WebSocket session with `[recovery] enabled`, a recovery
greenlet then reconnects after a backoff (`Backoff`) and, when the adapter `supports_resume`,
presents the resume token and the last `seq` seen. The server replays the missed frames, so a turn
in flight carries on and completes. When resuming is impossible or refused, or every attempt
fails, the conversation is lost: the turn in flight fails as `incomplete` and a fresh session
carries on (at once, or at the user's next turn after the attempts ran out).

Measured here (definitions in `rtbench.metrics.names`): `recovery` (drop detected -> the
`Resumed` event, i.e. the first message of the resumed session), the session counters
(`session_drops`, `resumes_ok`, `sessions_lost`, ...) and, through the process's `UptimeLedger`,
`session_us` / `downtime_us`. HTTP (SSE) connections carry no session: closing one between turns
is ordinary keep-alive churn, so they take no part in recovery.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any

import gevent
from gevent.event import AsyncResult

from rtbench.load.recovery import Backoff, UptimeLedger
from rtbench.load.state import ProcessState
from rtbench.metrics.names import error_frame_counter
from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.events import Error, Event, Resumed, SessionReady, Token
from rtbench.transports.base import CallbackListener, ConnectOptions, Transport, TransportError, transport_for

__all__ = ["Session", "RESUME_FAILED", "ledger_for"]

#: The error code with which a server refuses a resume (the connection goes on, fresh).
RESUME_FAILED = "resume_failed"
#: How often each process adds held and down time to its counters.
LEDGER_TICK_S = 0.5

EventSink = Callable[[list[Event], float], None]
FireHook = Callable[[str, float, "Exception | None"], None]

# Session states; the only transitions are in the methods named beside them.
_IDLE = "idle"  # no connection: never connected, reconnects exhausted or abandoned (open)
_UP = "up"  # connected and ready (_become_up)
_RECOVERING = "recovering"  # dropped; the recovery greenlet is reconnecting (_dropped)
_CLOSED = "closed"  # the user stopped (close)

# What the recovery greenlet waits for.
_READY, _RESUMED, _FRESH, _LOST = "ready", "resumed", "fresh", "lost"

_ledgers: weakref.WeakKeyDictionary[Any, UptimeLedger] = weakref.WeakKeyDictionary()


def ledger_for(environment: Any, state: ProcessState) -> UptimeLedger:
    """The uptime ledger of this load process, created (with its ticker) on first use."""
    ledger = _ledgers.get(environment)
    if ledger is None:
        ledger = _ledgers[environment] = UptimeLedger(state.recorder.count)
        runner = getattr(environment, "runner", None)
        spawn = runner.greenlet.spawn if runner is not None else gevent.spawn  # dies with the runner
        spawn(_tick, ledger)
    return ledger


def _tick(ledger: UptimeLedger) -> None:
    while True:
        gevent.sleep(LEDGER_TICK_S)
        ledger.flush()


class Session:
    """Holds one user's connection and conversation; used from the user's greenlet."""

    __slots__ = (
        "_shared",
        "_config",
        "_recorder",
        "adapter",
        "_ledger",
        "_on_events",
        "_on_turn_lost",
        "_fire",
        "_source_address",
        "_backoff",
        "_persistent",
        "_recovers",
        "_counts_duplicates",
        "_duplicates_seen",
        "_state",
        "_transport",
        "_generation",
        "_step",
        "_recovery",
        "_token",
        "_fresh_token",
        "_resume_seq",
        "_detected_at",
        "_held",
        "_down",
        "_lost",
        "conversations",
    )

    def __init__(
        self,
        shared: ProcessState,
        ledger: UptimeLedger,
        on_events: EventSink,
        on_turn_lost: Callable[[str], None],
        fire: FireHook,
        source_address: str | None = None,
    ) -> None:
        self._shared = shared
        self._config = shared.config
        self._recorder = shared.recorder
        #: The protocol adapter of the current conversation (a fresh session gets a fresh one).
        self.adapter: ProtocolAdapter = shared.new_adapter()
        self._ledger = ledger
        self._on_events = on_events
        self._on_turn_lost = on_turn_lost
        self._fire = fire
        self._source_address = source_address
        self._backoff = Backoff.from_config(shared.config)
        self._persistent = transport_for(type(self.adapter), shared.config.target.url).persistent
        self._recovers = self._persistent and shared.config.recovery.enabled
        self._counts_duplicates = isinstance(getattr(self.adapter, "duplicates", None), int)
        self._duplicates_seen = 0
        self._state = _IDLE
        self._transport: Transport | None = None
        self._generation = 0  # the connection whose on_close counts; bumped when we close one
        self._step: AsyncResult | None = None
        self._recovery: gevent.Greenlet | None = None
        self._token = ""
        self._fresh_token = ""
        self._resume_seq = 0
        self._detected_at = 0.0
        self._held = False  # counted in the ledger's held sessions
        self._down = False  # counted in the ledger's down sessions
        self._lost = False  # the current conversation is already counted lost
        #: Conversations started so far (a resume keeps the current one).
        self.conversations = 0

    @property
    def up(self) -> bool:
        """Connected and ready for a turn."""
        return self._state == _UP

    # -- from the user's greenlet -------------------------------------------------------------

    def open(self) -> bool:
        """Connect a fresh session unless one is up or recovering; True once it is usable."""
        if self._state != _IDLE:
            return self._state == _UP
        if self._persistent and self.conversations:
            self._renew_adapter()  # the old conversation is gone with its protocol state
        self._step = AsyncResult()
        transport = self._connect()
        if transport is None:
            gevent.sleep(min(self._config.target.connect_timeout, 1.0))
            return False
        outcome = self._handshake(transport)
        if outcome != _READY:
            if outcome is None:
                self._recorder.count("session_timeout")
            self._close_transport()
            return False
        self._start_conversation()
        self._become_up()
        return True

    def ensure_up(self) -> bool:
        """Wait for a recovery in progress, or open a fresh session; True once usable."""
        recovery = self._recovery
        if self._state == _RECOVERING and recovery is not None:
            recovery.join(timeout=self._config.target.turn_timeout)
        return self.open()

    def send(self, frames: list[str]) -> None:
        """Send `frames`; a failed send is a drop (handled here) and raises `TransportError`."""
        transport = self._transport
        if transport is None or self._state != _UP:
            raise TransportError("closed", "the session is not connected")
        try:
            for frame in frames:
                transport.send(frame)
        except TransportError as exc:
            if transport is self._transport:
                self._close_transport()
                self._dropped(str(exc))
            raise

    def abandon(self) -> None:
        """Close an up session whose stream got stuck (a turn timeout): the conversation is lost
        and the session stays down until the next `open`."""
        if self._state != _UP:
            return
        self._state = _IDLE
        self._close_transport()
        self._set_down(True)
        self._lose_conversation("abandoned after a turn timeout")

    def close(self) -> None:
        """The user stops: end any recovery and the connection, and leave the ledger."""
        self._state = _CLOSED
        if self._recovery is not None:
            self._recovery.kill(block=False)
            self._recovery = None
        self._close_transport()
        if self._held:
            self._ledger.change(held=-1, down=-1 if self._down else 0)
            self._held = self._down = False

    # -- session events (reader greenlet) ----------------------------------------------------

    def _session_events(self, events: list[Event], received_at: float) -> list[Event]:
        """Take the events about the session itself out of `events`; the rest go to the user."""
        rest: list[Event] = []
        for event in events:
            kind = type(event)
            if kind is SessionReady:
                self._on_ready(event)  # type: ignore[arg-type]
            elif kind is Resumed:
                self._on_resumed(received_at)
            elif kind is Error and event.code == RESUME_FAILED:  # type: ignore[union-attr]
                self._recorder.count(error_frame_counter(RESUME_FAILED))
                self._on_resume_failed(event.message)  # type: ignore[union-attr]
            else:
                rest.append(event)
        return rest

    def _on_ready(self, event: SessionReady) -> None:
        """The server opened a session on the new connection."""
        self._fresh_token = event.resume_token
        self._wake(_READY)

    def _on_resumed(self, received_at: float) -> None:
        """The resume was accepted: the session is back, the replay follows."""
        if self._state != _RECOVERING:
            return
        recovery_us = (received_at - self._detected_at) * 1e6
        self._recorder.record("recovery", recovery_us)
        self._recorder.count("resumes_ok")
        self._fire("recovery", recovery_us / 1000.0, None)
        self._become_up()
        self._wake(_RESUMED)

    def _on_resume_failed(self, message: str) -> None:
        """The server refused the resume and carries on with the fresh session."""
        if self._state != _RECOVERING:
            return
        self._recorder.count("resumes_failed")
        self._lose_conversation(f"resume refused: {message}")
        self._start_conversation()
        self._become_up()
        self._wake(_FRESH)

    # -- transport callbacks (reader greenlet) ------------------------------------------------

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        events = self.adapter.receive(frame)
        if events and type(events[0]) is not Token:  # content frames take the short way
            events = self._session_events(events, received_at)
        elif not events and self._counts_duplicates:
            seen = self.adapter.duplicates  # type: ignore[attr-defined]
            if seen > self._duplicates_seen:
                self._recorder.count("frames_duplicate", seen - self._duplicates_seen)
                self._duplicates_seen = seen
        self._on_events(events, received_at)

    def _on_response_start(self, status: int, reason: str, received_at: float) -> None:
        self._on_events(self.adapter.response_started(status, reason), received_at)

    def _on_response_end(self, received_at: float) -> None:
        self._on_events(self.adapter.response_ended(), received_at)

    def _on_close(self, generation: int, reason: str) -> None:
        if generation != self._generation:
            return  # a connection we closed ourselves, or an older one
        if self._transport is not None:
            self._transport = None
            self._shared.sessions -= 1
        self._wake(_LOST)
        if self._state == _UP:
            self._dropped(reason)

    # -- connections --------------------------------------------------------------------------

    def _connect(self) -> Transport | None:
        """A new connection (counted and timed as `connect`), or None if it failed."""
        config, adapter = self._config, self.adapter
        self._generation += 1
        generation = self._generation
        options = ConnectOptions(
            config.target.connect_timeout,
            dict(config.target.headers) or None,
            self._source_address,
            self._shared.ssl_context,
        )
        listener = CallbackListener(
            self._on_frame,
            lambda reason: self._on_close(generation, reason),
            self._on_response_start,
            self._on_response_end,
        )
        transport = transport_for(type(adapter), config.target.url)(config.target.url, options, listener)
        try:
            timing = transport.connect()
        except TransportError as exc:
            self._recorder.count("connect_failed")
            self._recorder.count(f"connect_failed_{exc.kind}")
            self._fire("connect", 0.0, exc)
            return None
        connect_us = (timing.end - timing.start) * 1e6
        self._recorder.record("connect", connect_us)
        self._recorder.count("connect_ok")
        self._fire("connect", connect_us / 1000.0, None)
        self._transport = transport
        self._shared.sessions += 1
        return transport

    def _handshake(self, transport: Transport) -> str | None:
        """Send the adapter's handshake and wait for the session to be ready, if the adapter says
        one comes: `_READY`, `_LOST` (the connection ended) or None (no session in time)."""
        try:
            for frame in self.adapter.handshake():
                transport.send(frame)
        except TransportError:
            return _LOST
        if not self.adapter.awaits_ready:
            return _READY
        return self._await_step(self._config.target.connect_timeout)

    def _close_transport(self) -> None:
        """Close the connection ourselves: its `on_close` will not count as a drop."""
        transport, self._transport = self._transport, None
        self._generation += 1
        if transport is not None:
            self._shared.sessions -= 1
            transport.close()

    def _await_step(self, timeout: float) -> str | None:
        step = self._step
        assert step is not None
        try:
            return step.get(timeout=timeout)  # type: ignore[no-any-return]
        except gevent.Timeout:
            return None

    def _wake(self, what: str) -> None:
        step = self._step
        if step is not None and not step.ready():
            step.set(what)

    # -- state changes ------------------------------------------------------------------------

    def _dropped(self, reason: str) -> None:
        """The up session lost its connection."""
        if not self._persistent:  # HTTP: the turn in flight is cut; the next one reconnects
            self._state = _IDLE
            self._on_turn_lost(reason)
            return
        self._detected_at = perf_counter()
        self._recorder.count("session_drops")
        self._set_down(True)
        if not self._recovers:
            self._state = _IDLE
            self._lose_conversation(reason)
            return
        self._state = _RECOVERING
        self._resume_seq = getattr(self.adapter, "last_seq", 0)
        if not self._can_resume():
            self._lose_conversation(reason)
        self._recovery = gevent.spawn(self._recover)

    def _renew_adapter(self) -> None:
        self.adapter = self._shared.new_adapter()
        self._duplicates_seen = 0

    def _can_resume(self) -> bool:
        return self.adapter.supports_resume and bool(self._token)

    def _recover(self) -> None:
        """Reconnect until the session is back (resumed or fresh) or the attempts run out."""
        backoff, rng = self._backoff, self._shared.rng
        for attempt in range(backoff.max_retries):
            gevent.sleep(backoff.delay(attempt, rng))
            if self._state != _RECOVERING:
                return
            self._recorder.count("recovery_attempts")
            if not self._can_resume():
                self._renew_adapter()
            self._step = AsyncResult()
            transport = self._connect()
            if transport is None:
                continue
            if self._handshake(transport) != _READY:
                self._close_transport()
                continue
            if not self._can_resume():
                self._start_conversation()
                self._become_up()
                return
            self._step = AsyncResult()
            try:
                for frame in self.adapter.resume(self._token, self._resume_seq):
                    transport.send(frame)
            except TransportError:
                self._close_transport()
                continue
            if self._await_step(self._config.target.connect_timeout) in (_RESUMED, _FRESH):
                return  # on_resumed / on_resume_failed made the session up
            self._close_transport()
        self._recorder.count("recovery_gave_up")
        self._state = _IDLE
        self._lose_conversation(f"no reconnect in {backoff.max_retries} attempts")

    def _start_conversation(self) -> None:
        """A fresh server session: its token is the one to resume from now on."""
        self._token = self._fresh_token
        self.conversations += 1
        self._lost = False
        if self._persistent:
            self._recorder.count("sessions_started")

    def _lose_conversation(self, reason: str) -> None:
        """The conversation cannot go on: counted once, and the turn in flight fails."""
        if not self._lost:
            self._lost = True
            self._recorder.count("sessions_lost")
        self._on_turn_lost(reason)

    def _become_up(self) -> None:
        self._state = _UP
        if self._persistent and not self._held:
            self._held = True
            self._ledger.change(held=1)
        self._set_down(False)

    def _set_down(self, down: bool) -> None:
        if self._held and down != self._down:
            self._ledger.change(down=1 if down else -1)
            self._down = down
