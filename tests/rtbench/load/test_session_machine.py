"""The sans-I/O session machine: every open, drop, resume, refusal, give-up, abandon and close path,
input by input, with a fake clock and no sockets or greenlets."""

from __future__ import annotations

import random
from typing import Any

import pytest
from support.clock import FakeClock

from rtbench.load.recovery import Backoff
from rtbench.load.session_inputs import (
    Abandon,
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
    StartBackoff,
    StopRecovery,
    TimedOut,
    TurnLost,
    UserClosed,
)
from rtbench.load.session_inputs import SessionState as S
from rtbench.load.session_machine import TRANSITIONS, SessionMachine

CONNECT_TIMEOUT = 2.0


def machine(clock: FakeClock | None = None, max_retries: int = 3, **traits: Any) -> SessionMachine:
    """A WebSocket session with recovery and resume, backoff 0.1 s doubling, without jitter."""
    options: dict[str, Any] = {"persistent": True, "recovers": True, "supports_resume": True, "awaits_ready": True}
    options.update(traits)
    backoff = Backoff(initial_s=0.1, max_s=5.0, multiplier=2.0, jitter=0.0, max_retries=max_retries)
    return SessionMachine(
        SessionPolicy(backoff=backoff, connect_timeout=CONNECT_TIMEOUT, **options),
        random.Random(0),
        clock or FakeClock(),
    )


def opened(m: SessionMachine, token: str = "tok1") -> SessionMachine:
    """Drive `m` from idle to up through a whole handshake."""
    connect = m.handle(Open())[-1]
    assert isinstance(connect, Connect)
    m.handle(Connected(connect.connection, 1500.0))
    m.handle(HandshakeSent(connect.connection))
    if m.state is S.AWAITING_READY:
        m.handle(Ready(token))
    assert m.up
    return m


def dropped(m: SessionMachine, last_seq: int = 7) -> list[Any]:
    assert m.connection is not None
    return m.handle(Closed(m.connection, "reset by peer", last_seq))


def reconnect(m: SessionMachine, token: str) -> list[Any]:
    """From backoff: the next attempt connects and gets its SessionReady; the actions after Ready."""
    actions = m.handle(BackoffElapsed())
    connection = m.connection
    assert connection is not None and actions[-1] == Connect(connection)
    assert m.handle(Connected(connection, 900.0))[-1] == SendHandshake(connection)
    assert m.handle(HandshakeSent(connection)) == [AwaitReply(connection, S.RECONNECT_AWAITING_READY, CONNECT_TIMEOUT)]
    return m.handle(Ready(token))


def counters(actions: list[Any]) -> list[str]:
    return [action.name for action in actions if type(action) is CountCounter]


# -- opening ------------------------------------------------------------------------------------


def test_open_connects_sends_the_handshake_and_is_up_at_session_ready() -> None:
    m = machine()
    assert m.handle(Open()) == [Connect(1)] and m.state is S.CONNECTING
    assert m.handle(Connected(1, 1500.0)) == [
        RecordMetric("connect", 1500.0),
        CountCounter("connect_ok"),
        FireRequest("connect", 1.5),
        SendHandshake(1),
    ]
    assert m.handle(HandshakeSent(1)) == [AwaitReply(1, S.AWAITING_READY, CONNECT_TIMEOUT)]
    assert m.handle(Ready("tok1")) == [CountCounter("sessions_started"), ChangeLedger(held=1)]
    assert m.up and m.conversations == 1 and m.connection == 1


def test_a_session_ready_before_the_handshake_is_out_makes_it_up_once_sent() -> None:
    m = machine()
    m.handle(Open())
    m.handle(Connected(1, 10.0))
    assert m.handle(Ready("early")) == [] and m.state is S.CONNECTING
    assert m.handle(HandshakeSent(1)) == [CountCounter("sessions_started"), ChangeLedger(held=1)]
    assert m.up


def test_http_is_up_once_connected_without_session_counters_or_ledger() -> None:
    m = machine(persistent=False, supports_resume=False, awaits_ready=False)
    m.handle(Open())
    m.handle(Connected(1, 10.0))
    assert m.handle(HandshakeSent(1)) == [] and m.up and m.conversations == 1
    # the keep-alive connection closing is no drop: the turn in flight is cut, the next reconnects
    assert m.handle(Closed(1, "eof", 0)) == [CloseTransport(), TurnLost("eof")] and m.state is S.IDLE
    assert m.handle(Open()) == [Connect(2)]  # no new adapter: HTTP keeps its adapter


@pytest.mark.parametrize("lost", [Closed, SendFailed])
def test_http_a_request_the_server_never_saw_goes_again_with_nothing_counted(lost: type[Closed]) -> None:
    """A reused keep-alive connection the server closed before answering: the turn is resent."""
    m = opened(machine(persistent=False, supports_resume=False, awaits_ready=False))
    assert m.handle(lost(1, "closed by server", 0, resendable=True)) == [
        CloseTransport(),
        TurnLost("closed by server", resend=True),
    ]
    assert m.state is S.IDLE and m.handle(Open()) == [Connect(2)]


def test_retire_lets_an_http_connection_go_as_churn_and_never_a_session() -> None:
    m = opened(machine(persistent=False, supports_resume=False, awaits_ready=False))
    assert m.handle(Retire()) == [CloseTransport()] and m.state is S.IDLE
    assert m.handle(Retire()) == []  # nothing to let go any more
    ws = opened(machine())
    assert ws.handle(Retire()) == [] and ws.up  # a WebSocket is the session itself


def test_a_failed_connect_is_counted_and_pauses_before_answering() -> None:
    m = machine()
    m.handle(Open())
    error = ConnectionRefusedError("nope")
    assert m.handle(ConnectFailed(1, error, "refused")) == [
        CountCounter("connect_failed"),
        CountCounter("connect_failed_refused"),
        FireRequest("connect", 0.0, error),
        Pause(1.0),
    ]
    assert m.state is S.IDLE and m.connection is None and m.conversations == 0


def test_no_session_ready_in_time_is_a_session_timeout() -> None:
    m = machine()
    m.handle(Open())
    m.handle(Connected(1, 10.0))
    m.handle(HandshakeSent(1))
    assert m.handle(TimedOut(1)) == [CountCounter("session_timeout"), CloseTransport()]
    assert m.state is S.IDLE and m.connection is None


@pytest.mark.parametrize("lost", [Closed(1, "eof"), SendFailed(1, "broken pipe")], ids=["closed", "send-failed"])
def test_a_connection_lost_while_opening_just_fails_the_open(lost: Closed | SendFailed) -> None:
    m = machine()
    m.handle(Open())
    m.handle(Connected(1, 10.0))
    assert m.handle(lost) == [CloseTransport()] and m.state is S.IDLE
    assert m.handle(HandshakeSent(1)) == []  # about the connection let go: stale, ignored


# -- drops and recovery -------------------------------------------------------------------------


def test_a_drop_resumes_and_is_timed_from_detection_to_the_resumed_message() -> None:
    clock = FakeClock(100.0)
    m = opened(machine(clock))
    clock.now = 105.0
    assert dropped(m, last_seq=7) == [
        CloseTransport(),
        CountCounter("session_drops"),
        ChangeLedger(down=1),
        StartBackoff(0.1),
    ]
    assert m.state is S.BACKOFF and m.recovering and not m.up
    actions = reconnect(m, "tok2")
    assert actions == [SendResume(2, "tok1", 7)] and m.state is S.RESUMING
    assert m.handle(ResumeSent(2)) == [AwaitReply(2, S.RESUMING, CONNECT_TIMEOUT)]
    clock.now = 999.0  # the machine reads no clock at the answer: the message's receive time counts
    assert m.handle(ResumeAccepted(105.35)) == [
        RecordMetric("recovery", pytest.approx(350_000.0)),
        CountCounter("resumes_ok"),
        FireRequest("recovery", pytest.approx(350.0)),
        ChangeLedger(down=-1),
    ]
    assert m.up and m.conversations == 1  # the same conversation goes on


def test_the_first_attempt_counts_and_keeps_the_adapter_when_it_can_resume() -> None:
    m = opened(machine())
    dropped(m)
    assert m.handle(BackoffElapsed()) == [CountCounter("recovery_attempts"), Connect(2)]


def test_a_refused_resume_loses_the_conversation_and_carries_on_fresh() -> None:
    m = opened(machine())
    dropped(m)
    reconnect(m, "tok2")
    actions = m.handle(ResumeRefused("unknown session"))
    assert actions == [
        CountCounter("error_frame_resume_failed"),
        CountCounter("resumes_failed"),
        CountCounter("sessions_lost"),
        TurnLost("resume refused: unknown session"),
        CountCounter("sessions_started"),
        ChangeLedger(down=-1),
    ]
    assert m.up and m.conversations == 2
    dropped(m, last_seq=3)
    assert reconnect(m, "tok3") == [SendResume(3, "tok2", 3)]  # the fresh session's token


def test_a_refusal_outside_a_resume_is_only_counted() -> None:
    m = opened(machine())
    assert m.handle(ResumeRefused("late")) == [CountCounter("error_frame_resume_failed")] and m.up


def test_reconnects_that_all_fail_give_up_with_growing_backoff() -> None:
    m = opened(machine(max_retries=3))
    delays = [dropped(m)[-1]]
    error = OSError("refused")
    for attempt in range(3):
        m.handle(BackoffElapsed())
        assert m.connection == attempt + 2
        actions = m.handle(ConnectFailed(attempt + 2, error, "refused"))
        assert counters(actions)[:2] == ["connect_failed", "connect_failed_refused"]
        delays.append(actions[-1])
    assert delays[:3] == [StartBackoff(0.1), StartBackoff(0.2), StartBackoff(0.4)]
    assert delays[3] == TurnLost("no reconnect in 3 attempts")
    assert "recovery_gave_up" in counters(actions) and "sessions_lost" in counters(actions)
    assert m.state is S.IDLE and not m.recovering
    # the session is still held, and down, until it is opened again or closed
    assert m.handle(Open()) == [RenewAdapter(), Connect(5)]


def test_no_retries_gives_up_at_the_drop() -> None:
    m = opened(machine(max_retries=0))
    actions = dropped(m)
    assert counters(actions) == ["session_drops", "recovery_gave_up", "sessions_lost"]
    assert actions[-1] == TurnLost("no reconnect in 0 attempts") and m.state is S.IDLE


@pytest.mark.parametrize(
    "failure",
    [lambda c: Closed(c, "eof"), lambda c: SendFailed(c, "pipe"), TimedOut],
    ids=["closed", "send", "timeout"],
)
def test_a_failed_resume_closes_and_tries_again_later(failure: Any) -> None:
    m = opened(machine())
    dropped(m)
    reconnect(m, "tok2")
    m.handle(ResumeSent(2))
    assert m.handle(failure(2)) == [CloseTransport(), StartBackoff(0.2)] and m.state is S.BACKOFF


def test_a_reconnect_without_session_ready_in_time_tries_again_without_a_session_timeout() -> None:
    m = opened(machine())
    dropped(m)
    m.handle(BackoffElapsed())
    m.handle(Connected(2, 10.0))
    m.handle(HandshakeSent(2))
    assert m.handle(TimedOut(2)) == [CloseTransport(), StartBackoff(0.2)]


def test_without_resume_a_drop_loses_the_turn_at_once_and_reconnects_fresh() -> None:
    m = opened(machine(supports_resume=False))
    actions = dropped(m)
    assert counters(actions) == ["session_drops", "sessions_lost"]
    assert TurnLost("reset by peer") in actions and actions[-1] == StartBackoff(0.1)
    assert m.handle(BackoffElapsed()) == [CountCounter("recovery_attempts"), RenewAdapter(), Connect(2)]
    m.handle(Connected(2, 10.0))
    m.handle(HandshakeSent(2))
    assert m.handle(Ready("tok2")) == [CountCounter("sessions_started"), ChangeLedger(down=-1)]
    assert m.up and m.conversations == 2


def test_with_recovery_disabled_a_drop_leaves_the_session_down_until_the_next_open() -> None:
    m = opened(machine(recovers=False))
    actions = m.handle(SendFailed(1, "broken pipe", 4))  # a failed send is a drop too
    assert actions == [
        CloseTransport(),
        CountCounter("session_drops"),
        ChangeLedger(down=1),
        CountCounter("sessions_lost"),
        TurnLost("broken pipe"),
    ]
    assert m.state is S.IDLE
    assert m.handle(Open()) == [RenewAdapter(), Connect(2)]


def test_stale_connection_inputs_are_ignored() -> None:
    m = opened(machine())
    dropped(m)
    reconnect(m, "tok2")
    assert m.handle(Closed(1, "the old connection, late")) == [] and m.state is S.RESUMING


# -- abandon and close --------------------------------------------------------------------------


def test_abandon_loses_an_up_session_and_is_ignored_otherwise() -> None:
    m = opened(machine())
    assert m.handle(Abandon()) == [
        CloseTransport(),
        ChangeLedger(down=1),
        CountCounter("sessions_lost"),
        TurnLost("abandoned after a turn timeout"),
    ]
    assert m.state is S.IDLE and m.handle(Abandon()) == []
    assert m.handle(Open()) == [RenewAdapter(), Connect(2)]
    m.handle(Connected(2, 10.0))
    m.handle(HandshakeSent(2))
    assert m.handle(Ready("tok2")) == [CountCounter("sessions_started"), ChangeLedger(down=-1)]
    assert m.up and m.conversations == 2


def test_close_leaves_the_ledger_and_ignores_everything_after() -> None:
    m = opened(machine())
    dropped(m)  # held and down
    assert m.handle(UserClosed()) == [StopRecovery(), CloseTransport(), ChangeLedger(held=-1, down=-1)]
    assert m.state is S.CLOSED
    for late in (BackoffElapsed(), Ready("x"), ResumeAccepted(1.0), Abandon(), UserClosed(), Open()):
        assert m.handle(late) == [] and m.state is S.CLOSED


def test_close_before_any_session_touches_no_ledger() -> None:
    m = machine()
    assert m.handle(UserClosed()) == [StopRecovery(), CloseTransport()]


# -- the table ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setup", "event"),
    [(opened, BackoffElapsed()), (opened, Open()), (opened, TimedOut(1)), (lambda m: m, HandshakeSent(None))],  # type: ignore[arg-type]
    ids=["backoff-while-up", "open-while-up", "timeout-while-up", "handshake-while-idle"],
)
def test_an_input_without_a_transition_is_a_clear_error(setup: Any, event: Any) -> None:
    m = setup(machine())
    with pytest.raises(InvalidTransition, match=f"cannot take {type(event).__name__}"):
        m.handle(event)


def test_what_the_server_says_never_raises_in_any_state() -> None:
    for state in S:
        for kind in (Ready, ResumeAccepted, ResumeRefused):
            assert (state, kind) in TRANSITIONS
        assert (state, UserClosed) in TRANSITIONS and (state, Abandon) in TRANSITIONS


def test_jittered_backoff_draws_from_the_given_rng() -> None:
    backoff = Backoff(initial_s=0.5, jitter=1.0)
    policy = SessionPolicy(True, True, True, True, backoff, 1.0)
    m = SessionMachine(policy, random.Random(42), FakeClock())
    opened(m)
    assert dropped(m)[-1] == StartBackoff(backoff.delay(0, random.Random(42)))
