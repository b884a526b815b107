"""The sans-I/O session machine: one user's connection lifecycle as states, inputs and actions.

It owns the session's state and bookkeeping (resume token, drop time, reconnect attempt, ledger
flags, conversations); no socket, greenlet or real clock. The driver (`rtbench.load.session`)
feeds it typed inputs and performs the actions returned (`session_inputs`). Every transition is in
`TRANSITIONS`: (state, input type) -> (the states it may lead to, its handler); an input without an
entry raises `InvalidTransition`. A *drop* (`Closed` or `SendFailed` while up) on a persistent
session with recovery reconnects after a backoff and resumes when it can; `recovery` is timed from
the drop (the injected clock) to `ResumeAccepted` (the first message of the resumed session).
Otherwise the conversation is lost: `sessions_lost` once, and the turn in flight fails.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from rtbench.load.session_inputs import (
    RECOVERING_STATES,
    RESUME_FAILED,
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
    ConnectionInput,
    CountCounter,
    FireRequest,
    HandshakeSent,
    Input,
    InvalidTransition,
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
    SessionPolicy,
    SessionState,
    StartBackoff,
    StopRecovery,
    TimedOut,
    Transition,
    TurnLost,
    UserClosed,
)
from rtbench.metrics.names import connect_failed_counter, error_frame_counter

__all__ = ["SessionMachine", "InvalidTransition", "Transition", "TRANSITIONS", "RESUME_FAILED", "RECOVERING_STATES"]

S = SessionState


class SessionMachine:
    """One user's session: feed inputs to `handle`, perform the actions it returns, in order."""

    __slots__ = (
        "state",
        "connection",
        "conversations",
        "_policy",
        "_rng",
        "_clock",
        "_connections",
        "_ready",
        "_token",
        "_fresh_token",
        "_resume_seq",
        "_detected_at",
        "_attempt",
        "_held",
        "_down",
        "_lost",
        "_out",
    )

    def __init__(self, policy: SessionPolicy, rng: random.Random, clock: Callable[[], float]) -> None:
        """`rng` draws the backoff jitter; `clock` is read at a drop (the transports' receive
        clock, for `recovery`)."""
        self.state = S.IDLE
        #: The number of the current connection, or None without one.
        self.connection: int | None = None
        #: Conversations started so far (a resume keeps the current one).
        self.conversations = 0
        self._policy = policy
        self._rng = rng
        self._clock = clock
        self._connections = 0
        self._ready = False  # the current connection's SessionReady has arrived
        self._token = ""  # the resume token of the current conversation
        self._fresh_token = ""  # the token of the newest SessionReady
        self._resume_seq = 0
        self._detected_at = 0.0
        self._attempt = 0
        self._held = False  # counted in the ledger's held sessions
        self._down = False  # counted in the ledger's down sessions
        self._lost = False  # the current conversation is already counted lost

    @property
    def up(self) -> bool:
        """Connected and ready for a turn."""
        return self.state is S.UP

    @property
    def recovering(self) -> bool:
        """Dropped, and reconnecting (or waiting to)."""
        return self.state in RECOVERING_STATES

    def handle(self, event: Input) -> list[Action]:
        """Take `event`; return the actions to perform, in order."""
        if isinstance(event, ConnectionInput) and event.connection != self.connection:
            return []  # about a connection already let go
        transition = TRANSITIONS.get((self.state, type(event)))
        if transition is None:
            raise InvalidTransition(self.state, event)
        out: list[Action] = []
        self._out = out  # the handler's actions
        try:
            after = transition.handler(self, event)
        finally:
            del self._out  # kept by no idle session
        if after not in transition.targets:
            raise InvalidTransition(self.state, event, f": its handler chose {after.name}")
        self.state = after
        return out

    # -- opening ----------------------------------------------------------------------------------

    def _open(self, _: Open) -> SessionState:
        if self._policy.persistent and self.conversations:
            self._out.append(RenewAdapter())  # the old conversation is gone with its protocol state
        self._connect()
        return S.CONNECTING

    def _connected(self, event: Connected) -> SessionState:
        self._out += (
            RecordMetric("connect", event.connect_us),
            CountCounter("connect_ok"),
            FireRequest("connect", event.connect_us / 1000.0),
            SendHandshake(event.connection),
        )
        return self.state

    def _connect_failed(self, event: ConnectFailed) -> SessionState:
        self.connection = None
        self._out += (
            CountCounter("connect_failed"),
            CountCounter(connect_failed_counter(event.kind)),
            FireRequest("connect", 0.0, event.error),
        )
        if self.state is S.RECONNECTING:
            return self._attempt_failed()
        self._out.append(Pause(min(self._policy.connect_timeout, 1.0)))
        return S.IDLE

    def _handshake_sent(self, event: HandshakeSent) -> SessionState:
        if self._ready or not self._policy.awaits_ready:
            return self._usable()
        waiting = S.AWAITING_READY if self.state is S.CONNECTING else S.RECONNECT_AWAITING_READY
        self._out.append(AwaitReply(event.connection, waiting, self._policy.connect_timeout))
        return waiting

    def _session_ready(self, event: Ready) -> SessionState:
        self._fresh_token = event.resume_token
        self._ready = True
        if self.state in (S.CONNECTING, S.RECONNECTING):
            return self.state  # usable once the handshake is out
        return self._usable()

    def _usable(self) -> SessionState:
        """The new connection's session is ready: up, or resume first."""
        if self.state in (S.RECONNECTING, S.RECONNECT_AWAITING_READY) and self._can_resume():
            assert self.connection is not None
            self._out.append(SendResume(self.connection, self._token, self._resume_seq))
            return S.RESUMING
        self._start_conversation()
        return self._become_up()

    def _open_failed(self, event: Closed | SendFailed | TimedOut) -> SessionState:
        if type(event) is TimedOut:
            self._out.append(CountCounter("session_timeout"))
        self._close_transport()
        return S.IDLE

    # -- up ---------------------------------------------------------------------------------------

    def _dropped(self, event: Closed | SendFailed) -> SessionState:
        """The up session lost its connection."""
        self._close_transport()
        if not self._policy.persistent:  # HTTP: churn; the turn in flight is cut (or sent again)
            self._out.append(TurnLost(event.reason, resend=event.resendable))
            return S.IDLE
        self._detected_at = self._clock()
        self._out.append(CountCounter("session_drops"))
        self._set_down(True)
        if not self._policy.recovers:
            self._lose_conversation(event.reason)
            return S.IDLE
        self._resume_seq = event.last_seq
        if not self._can_resume():
            self._lose_conversation(event.reason)
        self._attempt = 0
        return self._next_attempt()

    def _abandon(self, _: Abandon) -> SessionState:
        self._close_transport()
        self._set_down(True)
        self._lose_conversation("abandoned after a turn timeout")
        return S.IDLE

    def _retire(self, _: Retire) -> SessionState:
        if self._policy.persistent:
            return self.state  # a session's connection is never let go this way
        self._close_transport()
        return S.IDLE

    # -- recovering -------------------------------------------------------------------------------

    def _backoff_elapsed(self, _: BackoffElapsed) -> SessionState:
        self._out.append(CountCounter("recovery_attempts"))
        if not self._can_resume():
            self._out.append(RenewAdapter())
        self._connect()
        return S.RECONNECTING

    def _resume_sent(self, event: ResumeSent) -> SessionState:
        self._out.append(AwaitReply(event.connection, S.RESUMING, self._policy.connect_timeout))
        return S.RESUMING

    def _resume_accepted(self, event: ResumeAccepted) -> SessionState:
        recovery_us = (event.received_at - self._detected_at) * 1e6
        self._out += (
            RecordMetric("recovery", recovery_us),
            CountCounter("resumes_ok"),
            FireRequest("recovery", recovery_us / 1000.0),
        )
        return self._become_up()

    def _resume_refused(self, event: ResumeRefused) -> SessionState:
        self._out.append(CountCounter(error_frame_counter(RESUME_FAILED)))
        if self.state is not S.RESUMING:
            return self.state
        self._out.append(CountCounter("resumes_failed"))
        self._lose_conversation(f"resume refused: {event.message}")
        self._start_conversation()
        return self._become_up()

    def _reconnect_failed(self, _: Closed | SendFailed | TimedOut) -> SessionState:
        self._close_transport()
        return self._attempt_failed()

    def _attempt_failed(self) -> SessionState:
        self._attempt += 1
        return self._next_attempt()

    def _next_attempt(self) -> SessionState:
        backoff = self._policy.backoff
        if self._attempt < backoff.max_retries:
            self._out.append(StartBackoff(backoff.delay(self._attempt, self._rng)))
            return S.BACKOFF
        self._out.append(CountCounter("recovery_gave_up"))
        self._lose_conversation(f"no reconnect in {backoff.max_retries} attempts")
        return S.IDLE

    # -- closing and no-ops -----------------------------------------------------------------------

    def _user_closed(self, _: UserClosed) -> SessionState:
        self._out.append(StopRecovery())
        self._close_transport()
        if self._held:
            self._out.append(ChangeLedger(held=-1, down=-1 if self._down else 0))
            self._held = self._down = False
        return S.CLOSED

    def _ignore(self, _: Input) -> SessionState:
        return self.state

    # -- helpers ----------------------------------------------------------------------------------

    def _connect(self) -> None:
        self._connections += 1
        self.connection = self._connections
        self._ready = False
        self._out.append(Connect(self.connection))

    def _close_transport(self) -> None:
        self.connection = None
        self._out.append(CloseTransport())

    def _can_resume(self) -> bool:
        return self._policy.supports_resume and bool(self._token)

    def _start_conversation(self) -> None:
        """A fresh server session: its token is the one to resume from now on."""
        self._token = self._fresh_token
        self.conversations += 1
        self._lost = False
        if self._policy.persistent:
            self._out.append(CountCounter("sessions_started"))

    def _lose_conversation(self, reason: str) -> None:
        """The conversation cannot go on: counted once, and the turn in flight fails."""
        if not self._lost:
            self._lost = True
            self._out.append(CountCounter("sessions_lost"))
        self._out.append(TurnLost(reason))

    def _become_up(self) -> SessionState:
        if self._policy.persistent and not self._held:
            self._held = True
            self._out.append(ChangeLedger(held=1))
        self._set_down(False)
        return S.UP

    def _set_down(self, down: bool) -> None:
        if self._held and down != self._down:
            self._out.append(ChangeLedger(down=1 if down else -1))
            self._down = down


def _to(*states: SessionState) -> frozenset[SessionState]:
    return frozenset(states)


def _table() -> dict[tuple[SessionState, type[Input]], Transition]:
    m, opening, reopening = (
        SessionMachine,
        (S.CONNECTING, S.AWAITING_READY),
        (S.RECONNECTING, S.RECONNECT_AWAITING_READY),
    )
    retry = _to(S.BACKOFF, S.IDLE)  # the next attempt, or give up
    rows: list[tuple[SessionState, type[Input], frozenset[SessionState], Callable[..., SessionState]]] = [
        (S.IDLE, Open, _to(S.CONNECTING), m._open),
        (S.CONNECTING, Connected, _to(S.CONNECTING), m._connected),
        (S.CONNECTING, ConnectFailed, _to(S.IDLE), m._connect_failed),
        (S.CONNECTING, HandshakeSent, _to(S.UP, S.AWAITING_READY), m._handshake_sent),
        (S.CONNECTING, Ready, _to(S.CONNECTING), m._session_ready),
        (S.AWAITING_READY, Ready, _to(S.UP), m._session_ready),
        *((state, kind, _to(S.IDLE), m._open_failed) for state in opening for kind in (Closed, SendFailed)),
        (S.AWAITING_READY, TimedOut, _to(S.IDLE), m._open_failed),
        (S.UP, Closed, _to(S.IDLE, S.BACKOFF), m._dropped),
        (S.UP, SendFailed, _to(S.IDLE, S.BACKOFF), m._dropped),
        (S.UP, Abandon, _to(S.IDLE), m._abandon),
        (S.UP, Retire, _to(S.UP, S.IDLE), m._retire),
        (S.UP, ResumeSent, _to(S.UP), m._ignore),  # the answer came before the send returned
        (S.BACKOFF, BackoffElapsed, _to(S.RECONNECTING), m._backoff_elapsed),
        (S.RECONNECTING, Connected, _to(S.RECONNECTING), m._connected),
        (S.RECONNECTING, ConnectFailed, retry, m._connect_failed),
        (S.RECONNECTING, HandshakeSent, _to(S.UP, S.RESUMING, S.RECONNECT_AWAITING_READY), m._handshake_sent),
        (S.RECONNECTING, Ready, _to(S.RECONNECTING), m._session_ready),
        (S.RECONNECT_AWAITING_READY, Ready, _to(S.UP, S.RESUMING), m._session_ready),
        *((state, kind, retry, m._reconnect_failed) for state in reopening for kind in (Closed, SendFailed)),
        (S.RECONNECT_AWAITING_READY, TimedOut, retry, m._reconnect_failed),
        (S.RESUMING, ResumeSent, _to(S.RESUMING), m._resume_sent),
        (S.RESUMING, ResumeAccepted, _to(S.UP), m._resume_accepted),
        (S.RESUMING, ResumeRefused, _to(S.UP), m._resume_refused),
        *((S.RESUMING, kind, retry, m._reconnect_failed) for kind in (Closed, SendFailed, TimedOut)),
    ]
    table = {(state, kind): Transition(targets, handler) for state, kind, targets, handler in rows}
    for state in S:
        if state is S.CLOSED:  # the user stopped: nothing changes any more
            for kind in (*Input.__subclasses__(), *ConnectionInput.__subclasses__()):
                table[(state, kind)] = Transition(_to(state), m._ignore)
            continue
        # What the server says is never a driver bug: outside its states it changes nothing
        # (a refusal is still counted as an error frame).
        table.setdefault((state, Ready), Transition(_to(state), m._ignore))
        table.setdefault((state, ResumeAccepted), Transition(_to(state), m._ignore))
        table.setdefault((state, ResumeRefused), Transition(_to(state), m._resume_refused))
        table.setdefault((state, Abandon), Transition(_to(state), m._ignore))  # only an up session is abandoned
        table.setdefault((state, Retire), Transition(_to(state), m._ignore))
        table[(state, UserClosed)] = Transition(_to(S.CLOSED), m._user_closed)
    return table


#: Every transition: (state, input type) -> the states it may lead to and the handler.
TRANSITIONS = _table()
