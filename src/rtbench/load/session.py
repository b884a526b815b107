"""One user's connection lifecycle under gevent: the driver of the sans-I/O `SessionMachine`.

The machine (`rtbench.load.session_machine`) decides and counts: connect, notice a drop, reconnect
with backoff, resume or start afresh. This driver turns transport callbacks and protocol events
into its inputs and performs its actions: connections (built by an injected `TransportFactory`),
sends, waits and sleeps in the greenlet that drives the session (the user's in `open`, a recovery
greenlet after a drop), and the recorder, the uptime ledger and the user's hooks. Measured
(definitions in `rtbench.metrics.names`): `connect`, `recovery` (drop detected -> the `Resumed`
event, the first message of the resumed session), the session counters (`session_drops`,
`resumes_ok`, `sessions_lost`, ...) and, through the `UptimeLedger`, `session_us`/`downtime_us`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from time import perf_counter

import gevent
import gevent.event

from rtbench.load.connections import CallbackListener, TransportFactory
from rtbench.load.recovery import UptimeLedger
from rtbench.load.session_inputs import (
    BLOCKING_ACTIONS,
    Abandon,
    Action,
    AwaitReply,
    BackoffElapsed,
    ChangeLedger,
    Closed,
    CloseTransport,
    Connect,
    Connected,
    ConnectFailed,
    CountCounter,
    FireRequest,
    HandshakeSent,
    Input,
    Open,
    Pause,
    Ready,
    RecordMetric,
    RenewAdapter,
    ResumeAccepted,
    ResumeRefused,
    ResumeSent,
    Retire,
    SendFailed,
    SendHandshake,
    SendResume,
    SessionState,
    StartBackoff,
    StopRecovery,
    TimedOut,
    TurnLost,
    UserClosed,
)
from rtbench.load.session_machine import RESUME_FAILED, SessionMachine
from rtbench.load.state import ProcessState
from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.events import Error, Event, Resumed, SessionReady, Token
from rtbench.transports.base import Transport, TransportError

__all__ = ["Session", "RESUME_FAILED"]

EventSink = Callable[[list[Event], float], None]
FireHook = Callable[[str, float, "Exception | None"], None]


class Session:
    """Holds one user's connection and conversation; used from the user's greenlet."""

    __slots__ = (
        "_shared",
        "_recorder",
        "adapter",
        "_ledger",
        "_on_events",
        "_on_turn_lost",
        "_on_resend",
        "_fire",
        "_new_transport",
        "_new_adapter",
        "_source_address",
        "_machine",
        "_transport",
        "_duplicates_seen",
        "_queue",
        "_driver",
        "_recovery",
        "_waiting",
        "_idle",
    )

    def __init__(
        self,
        shared: ProcessState,
        ledger: UptimeLedger,
        on_events: EventSink,
        on_turn_lost: Callable[[str], None],
        fire: FireHook,
        source_address: str | None = None,
        *,
        on_resend: Callable[[str], None] | None = None,
        clock: Callable[[], float] = perf_counter,
        new_transport: TransportFactory | None = None,
        new_adapter: Callable[[], ProtocolAdapter] | None = None,
    ) -> None:
        """`on_resend` hears that the request in flight never reached the server (a keep-alive
        connection it had closed meanwhile) and may go again (without it, the turn is lost);
        `clock` times drops (it must be the transports' receive clock); `new_transport` builds
        the connections (by default, the process's, from `transport_factory`); `new_adapter`
        makes each conversation's adapter (by default, `shared.new_adapter`)."""
        self._shared = shared
        self._recorder = shared.recorder
        self._new_adapter = new_adapter
        #: The protocol adapter of the current conversation (a fresh session gets a fresh one).
        self.adapter: ProtocolAdapter = (new_adapter or shared.new_adapter)()
        self._ledger = ledger
        self._on_events = on_events
        self._on_turn_lost = on_turn_lost
        self._on_resend = on_resend or on_turn_lost
        self._fire = fire
        self._new_transport = new_transport or shared.new_transport
        self._source_address = source_address
        self._machine = SessionMachine(shared.session_policy(self.adapter), shared.rng, clock)
        self._transport: Transport | None = None
        self._duplicates_seen = 0
        self._queue: list[Action] = []  # blocking actions for the driving greenlet
        self._driver: gevent.Greenlet | None = None  # the greenlet running them now
        self._recovery: gevent.Greenlet | None = None
        self._waiting: gevent.event.Event | None = None  # set when the machine moves
        self._idle: gevent.event.Event | None = None  # set when a response ends or the connection does

    @property
    def up(self) -> bool:
        """Connected and ready for a turn."""
        return self._machine.up

    @property
    def state(self) -> SessionState:
        """The machine's state."""
        return self._machine.state

    @property
    def conversations(self) -> int:
        """Conversations started so far (a resume keeps the current one)."""
        return self._machine.conversations

    # -- from the user's greenlet -------------------------------------------------------------

    def open(self) -> bool:
        """Connect a fresh session unless one is up or recovering; True once it is usable."""
        machine = self._machine
        if machine.state is not SessionState.IDLE:
            return machine.up
        self._driver = gevent.getcurrent()
        self._feed(Open())
        self._drive()
        return machine.up

    def ensure_up(self) -> bool:
        """Wait for a recovery in progress, or open a fresh session; True once usable."""
        recovery = self._recovery
        if self._machine.recovering and recovery is not None:
            recovery.join(timeout=self._shared.config.target.turn_timeout)
        return self.open()

    def await_idle(self) -> bool:
        """Before a turn: wait for the previous response to end (a streamed HTTP turn ends at its
        last event, before the response does), at most the first-token (or turn) timeout. A
        connection the server closed meanwhile is replaced, and so is one still busy at the bound
        (churn: nothing counted). True once the session is up with no response in flight."""
        transport = self._transport
        if transport is not None and transport.busy:
            target = self._shared.config.target
            deadline = perf_counter() + (target.first_token_timeout or target.turn_timeout)
            while transport.busy and transport is self._transport:
                idle = self._idle = gevent.event.Event()
                try:
                    if not idle.wait(max(0.0, deadline - perf_counter())):
                        break
                finally:
                    self._idle = None
            if transport is self._transport and transport.busy:
                self._feed(Retire())
        return self.up or self.ensure_up()

    def send(self, frames: list[str]) -> None:
        """Send `frames`; a failed send is a drop (handled here) and raises `TransportError`."""
        transport, connection = self._transport, self._machine.connection
        if transport is None or connection is None or not self._machine.up:
            raise TransportError("closed", "the session is not connected")
        try:
            for frame in frames:
                transport.send(frame)
        except TransportError as exc:
            self._feed(SendFailed(connection, str(exc), self.adapter.last_seq, transport.resendable))
            raise

    def abandon(self) -> None:
        """Close an up session whose stream got stuck (a turn timeout): the conversation is lost
        and the session stays down until the next `open`."""
        self._feed(Abandon())

    def close(self) -> None:
        """The user stops: end any recovery and the connection, and leave the ledger."""
        self._feed(UserClosed())

    # -- transport callbacks (reader greenlet) ------------------------------------------------

    def _on_frame(self, frame: str | bytes, received_at: float) -> None:
        adapter = self.adapter
        events = adapter.receive(frame)
        if events and type(events[0]) is not Token:  # content frames take the short way
            events = self._session_events(events, received_at)
        elif not events and adapter.duplicates > self._duplicates_seen:
            self._recorder.count("frames_duplicate", adapter.duplicates - self._duplicates_seen)
            self._duplicates_seen = adapter.duplicates
        self._on_events(events, received_at)

    def _session_events(self, events: list[Event], received_at: float) -> list[Event]:
        """Take the events about the session itself out of `events`; the rest go to the user."""
        rest: list[Event] = []
        for event in events:
            kind = type(event)
            if kind is SessionReady:
                self._feed(Ready(event.resume_token))  # type: ignore[union-attr]
                rest.append(event)  # the user may look at it too
            elif kind is Resumed:
                self._feed(ResumeAccepted(received_at))
            elif kind is Error and event.code == RESUME_FAILED:  # type: ignore[union-attr]
                self._feed(ResumeRefused(event.message))  # type: ignore[union-attr]
            else:
                rest.append(event)
        return rest

    def _on_response_start(self, status: int, reason: str, received_at: float) -> None:
        self._on_events(self.adapter.response_started(status, reason), received_at)

    def _on_response_end(self, received_at: float) -> None:
        self._on_events(self.adapter.response_ended(), received_at)
        if self._idle is not None:
            self._idle.set()

    def _on_close(self, connection: int, reason: str) -> None:
        if self._idle is not None:
            self._idle.set()
        if connection != self._machine.connection:
            return  # a connection we closed ourselves, or an older one
        transport, resendable = self._transport, False
        if transport is not None:
            resendable = transport.resendable
            self._transport = None
            self._shared.sessions -= 1
        self._feed(Closed(connection, reason, self.adapter.last_seq, resendable))

    # -- performing the machine's actions -----------------------------------------------------

    def _feed(self, event: Input) -> None:
        """Hand `event` to the machine; do its quick actions now, queue the blocking ones for the
        driving greenlet (a new recovery greenlet if none drives), and wake a waiting driver."""
        for action in self._machine.handle(event):
            if isinstance(action, BLOCKING_ACTIONS):
                self._queue.append(action)
            else:
                self._perform(action)
        if self._queue and self._driver is None:
            self._recovery = self._driver = gevent.spawn(self._drive)
        if self._waiting is not None:
            self._waiting.set()

    def _drive(self) -> None:
        """Run the queued blocking actions until none is left (in the driving greenlet)."""
        me = gevent.getcurrent()
        try:
            while self._queue and self._driver is me:  # a late recovery greenlet leaves open()'s work alone
                self._perform_blocking(self._queue.pop(0))
        finally:
            if self._driver is me:
                self._driver = None

    def _perform(self, action: Action) -> None:
        match action:
            case CountCounter(name, n):
                self._recorder.count(name, n)
            case ChangeLedger(held, down):
                self._ledger.change(held=held, down=down)
            case TurnLost(reason, resend):
                (self._on_resend if resend else self._on_turn_lost)(reason)
            case RecordMetric(metric, value_us):
                self._recorder.record(metric, value_us)
            case FireRequest(name, ms, error):
                self._fire(name, ms, error)
            case CloseTransport():
                self._close_transport()
            case RenewAdapter():
                self.adapter = (self._new_adapter or self._shared.new_adapter)()
                self._duplicates_seen = 0
            case StopRecovery():
                self._stop_recovery()
            case _:
                raise TypeError(f"not an action the session performs at once: {action!r}")

    def _perform_blocking(self, action: Action) -> None:
        match action:
            case Connect(connection):
                self._connect(connection)
            case SendHandshake(connection):
                self._send_for(connection, self.adapter.handshake, HandshakeSent)
            case SendResume(connection, token, last_seq):
                adapter = self.adapter
                self._send_for(connection, lambda: adapter.resume(token, last_seq), ResumeSent)
            case AwaitReply():
                self._await_reply(action)
            case StartBackoff(delay_s):
                gevent.sleep(delay_s)
                self._feed(BackoffElapsed())
            case Pause(seconds):
                gevent.sleep(seconds)
            case _:
                raise TypeError(f"not a blocking action: {action!r}")

    # -- connections --------------------------------------------------------------------------

    def _connect(self, connection: int) -> None:
        """Open connection `connection`; the machine hears `Connected` or `ConnectFailed`."""
        callbacks = CallbackListener(
            self._on_frame,
            lambda reason: self._on_close(connection, reason),
            self._on_response_start,
            self._on_response_end,
        )
        transport = self._new_transport(self.adapter, callbacks, self._source_address)
        try:
            timing = transport.connect()
        except TransportError as exc:
            self._feed(ConnectFailed(connection, exc, exc.kind))
            return
        if connection != self._machine.connection:  # the user closed meanwhile
            transport.close()
            return
        self._transport = transport
        self._shared.sessions += 1
        self._feed(Connected(connection, (timing.end - timing.start) * 1e6))

    def _send_for(
        self, connection: int, frames: Callable[[], list[str]], sent: type[HandshakeSent] | type[ResumeSent]
    ) -> None:
        transport = self._transport
        if transport is None or connection != self._machine.connection:
            return  # the connection ended meanwhile; the machine knows
        try:
            for frame in frames():
                transport.send(frame)
        except TransportError as exc:
            self._feed(SendFailed(connection, str(exc)))
            return
        self._feed(sent(connection))

    def _await_reply(self, action: AwaitReply) -> None:
        """Wait while the machine stays in `action.state` on its connection; then `TimedOut`."""
        machine = self._machine
        deadline = time.monotonic() + action.timeout_s
        while machine.state is action.state and machine.connection == action.connection and not self._queue:
            remaining = deadline - time.monotonic()
            waiting = self._waiting = gevent.event.Event()
            try:
                moved = remaining > 0 and waiting.wait(remaining)
            finally:
                if self._waiting is waiting:
                    self._waiting = None
            if not moved and machine.state is action.state and not self._queue:
                self._feed(TimedOut(action.connection))
                return

    def _close_transport(self) -> None:
        """Close the connection ourselves: its `on_close` will not count as a drop."""
        transport, self._transport = self._transport, None
        if transport is not None:
            self._shared.sessions -= 1
            transport.close()

    def _stop_recovery(self) -> None:
        recovery, self._recovery = self._recovery, None
        self._queue.clear()
        if recovery is not None:
            if self._driver is recovery:
                self._driver = None
            recovery.kill(block=False)
