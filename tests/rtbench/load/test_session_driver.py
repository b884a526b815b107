"""The gevent driver of the session machine, with an injected scripted transport and a fake clock:
the greenlets, waits and sleeps of `Session` without sockets (the loopback tests are in
test_session.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import gevent
from support.clock import FakeClock

from rtbench.config import RunConfig
from rtbench.load.connections import CallbackListener
from rtbench.load.session import Session
from rtbench.load.session_inputs import SessionState
from rtbench.load.state import ProcessState
from rtbench.metrics.recorder import Recorder
from rtbench.protocols.base import ProtocolAdapter
from rtbench.protocols.native import NativeAdapter
from rtbench.transports.base import ConnectTiming, Transport, TransportError


class ScriptedServer:
    """Native-protocol connections in memory; frames are delivered from greenlets, stamped with
    the shared fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.connections: list[ScriptedConnection] = []
        self.refuse_connects = 0
        self.refuse_resume = False
        self.resume_delay_s = 0.25  # on the fake clock, between the drop and the answer

    def factory(self, adapter: ProtocolAdapter, callbacks: CallbackListener, source: str | None) -> Transport:
        connection = ScriptedConnection(self, callbacks, len(self.connections) + 1)
        self.connections.append(connection)
        return connection


class ScriptedConnection(Transport):
    def __init__(self, server: ScriptedServer, callbacks: CallbackListener, number: int) -> None:
        self.server, self.callbacks, self.number = server, callbacks, number
        self.sent: list[dict[str, Any]] = []
        self.open = False

    @property
    def connected(self) -> bool:
        return self.open

    def connect(self) -> ConnectTiming:
        if self.server.refuse_connects:
            self.server.refuse_connects -= 1
            raise TransportError("refused", "connection refused")
        self.open = True
        self.deliver({"type": "session", "session_id": f"s{self.number}", "resume_token": f"tok{self.number}"})
        return ConnectTiming(1.0, 1.002)

    def send(self, message: str) -> None:
        if not self.open:
            raise TransportError("closed", "connection closed")
        msg = json.loads(message)
        self.sent.append(msg)
        if msg["type"] == "resume":
            self.server.clock.advance(self.server.resume_delay_s)
            if self.server.refuse_resume:
                self.deliver({"type": "error", "code": "resume_failed", "message": "expired"})
            else:
                answer = {"type": "resumed", "session_id": "s1", "last_seq": msg["last_seq"], "replayed": 0}
                self.deliver(answer)

    def close(self) -> None:
        self.open = False

    def deliver(self, msg: dict[str, Any]) -> None:
        gevent.spawn(self.callbacks.on_frame, json.dumps(msg), self.server.clock())

    def drop(self) -> None:
        """The server ends the connection."""
        self.open = False
        self.callbacks.on_close("reset by peer")


class Harness:
    def __init__(self, **config: Any) -> None:
        self.clock = FakeClock(100.0)
        self.server = ScriptedServer(self.clock)
        self.recorder = Recorder()
        options: dict[str, Any] = {"recovery_backoff_initial": 0.001, "recovery_jitter": 0.0} | config
        self.state = ProcessState(
            config=RunConfig.from_dict({"target": "ws://scripted", **options}), recorder=self.recorder
        )
        self.lost: list[str] = []
        self.fired: list[tuple[str, float, Exception | None]] = []
        self.session = Session(
            self.state,
            self.state.ledger,
            lambda events, at: None,
            self.lost.append,
            lambda name, ms, error: self.fired.append((name, ms, error)),
            clock=self.clock,
            new_transport=self.server.factory,
            new_adapter=NativeAdapter,
        )

    def counters(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for interval in self.recorder.take_closed(time.time() + 10):
            for name, n in interval.counters.items():
                totals[name] = totals.get(name, 0) + n
        return totals

    def recovery_us(self) -> list[float]:
        return [v for name, ms, _ in self.fired if name == "recovery" for v in [ms * 1000.0]]

    def wait_for(self, condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 2.0
        while not condition():
            assert time.monotonic() < deadline, "condition not met in time"
            gevent.sleep(0.001)


def test_open_waits_for_session_ready_and_holds_the_session() -> None:
    h = Harness()
    assert h.session.open() and h.session.up
    assert h.state.sessions == 1 and (h.state.ledger.held, h.state.ledger.down) == (1, 0)
    counters = h.counters()
    assert counters["connect_ok"] == counters["sessions_started"] == 1
    h.session.close()
    assert h.state.sessions == 0 and h.state.ledger.held == 0 and h.session.state is SessionState.CLOSED


def test_a_drop_resumes_in_a_recovery_greenlet_timed_on_the_injected_clock() -> None:
    h = Harness()
    h.session.open()
    h.session.adapter.last_seq = 5  # type: ignore[misc]
    h.server.connections[0].drop()
    assert h.session.state is SessionState.BACKOFF and h.state.ledger.down == 1
    assert h.session.ensure_up()  # waits for the recovery greenlet
    resume = h.server.connections[1].sent[-1]
    assert (resume["type"], resume["resume_token"], resume["last_seq"]) == ("resume", "tok1", 5)
    assert h.recovery_us() == [250_000.0]  # drop at t=100, the answer stamped 100.25
    assert h.lost == [] and h.session.conversations == 1 and h.state.ledger.down == 0
    assert h.counters()["resumes_ok"] == 1 and h.state.sessions == 1


def test_a_refused_resume_fails_the_turn_and_goes_on_fresh() -> None:
    h = Harness()
    h.session.open()
    h.server.refuse_resume = True
    h.server.connections[0].drop()
    assert h.session.ensure_up()
    assert h.lost == ["resume refused: expired"] and h.session.conversations == 2
    counters = h.counters()
    assert counters["resumes_failed"] == counters["sessions_lost"] == counters["error_frame_resume_failed"] == 1


def test_a_failed_send_is_a_drop_and_refused_reconnects_give_up() -> None:
    h = Harness(recovery_max_retries=2)
    h.session.open()
    h.server.connections[0].open = False
    h.server.refuse_connects = 2
    try:
        h.session.send(["{}"])
    except TransportError:
        pass
    else:
        raise AssertionError("the send should have failed")
    h.wait_for(lambda: h.session.state is SessionState.IDLE)
    assert h.lost == ["no reconnect in 2 attempts"] and h.state.sessions == 0
    counters = h.counters()
    assert counters["connect_failed_refused"] == counters["recovery_attempts"] == 2
    assert counters["recovery_gave_up"] == counters["session_drops"] == 1
    assert (h.state.ledger.held, h.state.ledger.down) == (1, 1)
    assert h.session.open() and h.session.conversations == 2  # a fresh session, a fresh adapter
    assert h.state.ledger.down == 0


def test_close_stops_a_recovery_in_progress() -> None:
    h = Harness(recovery_backoff_initial=10.0)
    h.session.open()
    h.server.connections[0].drop()
    assert h.session.state is SessionState.BACKOFF
    h.session.close()
    gevent.sleep(0.01)
    assert h.session.state is SessionState.CLOSED and len(h.server.connections) == 1
    assert (h.state.ledger.held, h.state.ledger.down) == (0, 0)
