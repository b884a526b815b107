"""What goes into and comes out of the sans-I/O `SessionMachine`: typed inputs and actions.

Inputs are facts the driver observed (a connection opened, a frame said the session is ready, a
wait ran out, the user closed). Inputs about one connection carry its `connection` number; the
machine ignores those about a connection it has already let go. Actions are what the driver must
do; those in `BLOCKING_ACTIONS` wait on the network or the clock, so the driver runs them in the
greenlet that drives the session (the user's in `open`, the recovery greenlet otherwise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

from rtbench.load.recovery import Backoff

__all__ = [
    "SessionState",
    "SessionPolicy",
    "Input",
    "ConnectionInput",
    "Open",
    "Connected",
    "ConnectFailed",
    "HandshakeSent",
    "ResumeSent",
    "SendFailed",
    "Closed",
    "TimedOut",
    "Ready",
    "ResumeAccepted",
    "ResumeRefused",
    "BackoffElapsed",
    "Abandon",
    "Retire",
    "UserClosed",
    "Action",
    "Connect",
    "SendHandshake",
    "SendResume",
    "AwaitReply",
    "StartBackoff",
    "Pause",
    "CloseTransport",
    "RenewAdapter",
    "StopRecovery",
    "CountCounter",
    "RecordMetric",
    "FireRequest",
    "ChangeLedger",
    "TurnLost",
    "BLOCKING_ACTIONS",
    "InvalidTransition",
    "Transition",
    "RECOVERING_STATES",
    "RESUME_FAILED",
]


class SessionState(Enum):
    """Where one user's session is."""

    #: No connection: never connected, reconnects ran out, abandoned, or HTTP between connections.
    IDLE = "idle"
    #: `open`: connecting a fresh session, then sending the adapter's handshake.
    CONNECTING = "connecting"
    #: `open`: handshake sent, waiting for the server's `SessionReady`.
    AWAITING_READY = "awaiting_ready"
    #: Connected and ready for a turn.
    UP = "up"
    #: Dropped: waiting out the backoff before the next reconnect attempt.
    BACKOFF = "backoff"
    #: Recovering: connecting, then sending the handshake.
    RECONNECTING = "reconnecting"
    #: Recovering: handshake sent, waiting for the new connection's `SessionReady`.
    RECONNECT_AWAITING_READY = "reconnect_awaiting_ready"
    #: Recovering: the resume request is sent (or going), waiting for the server's answer.
    RESUMING = "resuming"
    #: The user stopped; every later input is ignored.
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """What a process's sessions do, from its adapter and config (one, shared by its sessions)."""

    #: The connection carries the session (WebSocket), not one HTTP exchange per turn.
    persistent: bool
    #: Reconnect after a drop (`[recovery] enabled`; persistent sessions only).
    recovers: bool
    supports_resume: bool
    #: Usable only after the server's `SessionReady`.
    awaits_ready: bool
    backoff: Backoff
    connect_timeout: float


#: The states of a recovery in progress.
RECOVERING_STATES = frozenset(
    {SessionState.BACKOFF, SessionState.RECONNECTING, SessionState.RECONNECT_AWAITING_READY, SessionState.RESUMING}
)
#: The error code with which a server refuses a resume (the connection goes on, fresh).
RESUME_FAILED = "resume_failed"


class Transition(NamedTuple):
    """The states an input may lead to from one state, and the machine's handler that picks one."""

    targets: frozenset[SessionState]
    handler: Callable[[Any, Any], SessionState]


# -- inputs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Input:
    """Base of every input."""


@dataclass(frozen=True, slots=True)
class ConnectionInput(Input):
    """An input about one connection; stale (ignored) once the machine has let that one go."""

    #: The number the machine gave the connection in `Connect`.
    connection: int


@dataclass(frozen=True, slots=True)
class Open(Input):
    """The user wants a fresh session (only fed in `IDLE`)."""


@dataclass(frozen=True, slots=True)
class Connected(ConnectionInput):
    """The connection opened (TCP and upgrade, or HTTP connect)."""

    #: How long connecting took, in µs (the `connect` metric).
    connect_us: float


@dataclass(frozen=True, slots=True)
class ConnectFailed(ConnectionInput):
    """The connection could not be opened."""

    #: The transport's error (handed to Locust's request event).
    error: Exception
    #: Its kind: dns, refused, timeout, handshake or closed.
    kind: str


@dataclass(frozen=True, slots=True)
class HandshakeSent(ConnectionInput):
    """The adapter's handshake frames went out."""


@dataclass(frozen=True, slots=True)
class ResumeSent(ConnectionInput):
    """The resume request went out."""


@dataclass(frozen=True, slots=True)
class SendFailed(ConnectionInput):
    """A send on the connection failed: the connection is gone."""

    reason: str
    #: The adapter's last sequence number at that moment (where a resume would start).
    last_seq: int = 0
    #: The connection was a reused carrier of requests (HTTP keep-alive) that ended before any
    #: byte of the answer to the request in flight: the server never saw it, it may go again.
    resendable: bool = False


@dataclass(frozen=True, slots=True)
class Closed(ConnectionInput):
    """The connection ended without rtbench asking (the transport's `on_close`)."""

    reason: str
    #: The adapter's last sequence number at that moment (where a resume would start).
    last_seq: int = 0
    #: The connection was a reused carrier of requests (HTTP keep-alive) that ended before any
    #: byte of the answer to the request in flight: the server never saw it, it may go again.
    resendable: bool = False


@dataclass(frozen=True, slots=True)
class TimedOut(ConnectionInput):
    """An `AwaitReply` ran out of time with no answer."""


@dataclass(frozen=True, slots=True)
class Ready(Input):
    """The server opened a session on the current connection (`SessionReady`)."""

    resume_token: str


@dataclass(frozen=True, slots=True)
class ResumeAccepted(Input):
    """The server accepted the resume (`Resumed`): the first message of the resumed session."""

    #: When that message was received, on the transport's clock.
    received_at: float


@dataclass(frozen=True, slots=True)
class ResumeRefused(Input):
    """The server refused the resume (error `resume_failed`) and carries on with a fresh session."""

    message: str


@dataclass(frozen=True, slots=True)
class BackoffElapsed(Input):
    """The wait of `StartBackoff` is over."""


@dataclass(frozen=True, slots=True)
class Abandon(Input):
    """The user gives up an up session whose stream got stuck (a turn timeout)."""


@dataclass(frozen=True, slots=True)
class Retire(Input):
    """The driver lets go of an up carrier of requests (HTTP) it will not reuse, e.g. one still
    busy with a response after its turn ended: closed as churn, nothing counted."""


@dataclass(frozen=True, slots=True)
class UserClosed(Input):
    """The user stops."""


# -- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Action:
    """Base of every action."""


@dataclass(frozen=True, slots=True)
class Connect(Action):
    """Open connection number `connection`; answer `Connected` or `ConnectFailed`."""

    connection: int


@dataclass(frozen=True, slots=True)
class SendHandshake(Action):
    """Send the adapter's handshake; answer `HandshakeSent` or `SendFailed`."""

    connection: int


@dataclass(frozen=True, slots=True)
class SendResume(Action):
    """Send the adapter's resume request; answer `ResumeSent` or `SendFailed`."""

    connection: int
    token: str
    last_seq: int


@dataclass(frozen=True, slots=True)
class AwaitReply(Action):
    """Wait while the machine stays in `state` on `connection`; after `timeout_s`, `TimedOut`."""

    connection: int
    state: SessionState
    timeout_s: float


@dataclass(frozen=True, slots=True)
class StartBackoff(Action):
    """Wait `delay_s`, then `BackoffElapsed`."""

    delay_s: float


@dataclass(frozen=True, slots=True)
class Pause(Action):
    """Wait `seconds` before giving the user the answer (after a failed connect)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class CloseTransport(Action):
    """Close the current connection, if any (its `on_close` no longer counts)."""


@dataclass(frozen=True, slots=True)
class RenewAdapter(Action):
    """Replace the adapter with a fresh one (the old conversation's protocol state is gone)."""


@dataclass(frozen=True, slots=True)
class StopRecovery(Action):
    """Stop the recovery greenlet, if one runs."""


@dataclass(frozen=True, slots=True)
class CountCounter(Action):
    """Add `n` to the counter `name`."""

    name: str
    n: int = 1


@dataclass(frozen=True, slots=True)
class RecordMetric(Action):
    """Record `value_us` into the histogram of `metric`."""

    metric: str
    value_us: float


@dataclass(frozen=True, slots=True)
class FireRequest(Action):
    """Tell Locust's request event (its console and UI), in ms; `error` for a failure."""

    name: str
    ms: float
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class ChangeLedger(Action):
    """Add `held` and `down` to the process's uptime ledger."""

    held: int = 0
    down: int = 0


@dataclass(frozen=True, slots=True)
class TurnLost(Action):
    """The turn in flight, if any, cannot come back: it fails as incomplete; or, with `resend`,
    its request never reached the server and goes again on a new connection."""

    reason: str
    resend: bool = False


#: Actions that wait on the network or the clock.
BLOCKING_ACTIONS = (Connect, SendHandshake, SendResume, AwaitReply, StartBackoff, Pause)


class InvalidTransition(RuntimeError):
    """An input the machine has no transition for in its current state (a driver bug)."""

    def __init__(self, state: SessionState, event: Input, detail: str = "") -> None:
        super().__init__(f"session in state {state.name} cannot take {type(event).__name__}{detail}")
        self.state = state
        self.event = event
