"""Checks of when a worker gives up on its master, and when the master gives up on a worker, with
an injected clock and Locust's own worker list. Run by test_watchdog.py, each in a Python process
of its own (`python watch_checks.py CHECK`): importing Locust monkey-patches the process.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import Any


class _Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _worker_runner(state: str = "running") -> SimpleNamespace:
    return SimpleNamespace(
        state=state,
        last_heartbeat_timestamp=None,
        register_message=lambda name, handler: None,
        greenlet=SimpleNamespace(spawn=lambda *a: None),
    )


def check_a_worker_stops_on_master_silence_or_parent_exit_but_not_while_quitting() -> None:
    from rtbench.load.distributed.watchdog import MasterWatchdog

    clock = _Clock()
    runner = _worker_runner()
    watchdog = MasterWatchdog(runner, parent_pid=os.getppid(), timeout_s=3.0, clock=clock)
    assert watchdog.check() is None  # not connected yet: only the parent counts
    runner.last_heartbeat_timestamp = clock.now
    clock.now += 2.9
    assert watchdog.check() is None
    clock.now += 0.2
    assert watchdog.check() == "no heartbeat from the master for 3.1 s"
    runner.state = "cleanup"  # the master's quit is under way: stopping users may take a while
    assert watchdog.check() is None

    orphan = MasterWatchdog(_worker_runner(), parent_pid=os.getppid() + 1, clock=clock)
    assert orphan.check() == f"the master process {os.getppid() + 1} exited"


def check_a_worker_that_was_stalled_itself_waits_for_the_masters_answer() -> None:
    """Stopped for 10 s, then continued: the master's replies may still wait unread."""
    from rtbench.load.distributed.watchdog import MasterWatchdog

    clock = _Clock()
    runner = _worker_runner()
    watchdog = MasterWatchdog(runner, timeout_s=3.0, clock=clock)
    runner.last_heartbeat_timestamp = clock.now
    clock.now += 10.0
    assert watchdog.check(slept=10.0) is None
    clock.now += 2.0
    assert watchdog.check() is None
    clock.now += 1.5
    assert watchdog.check() == "no heartbeat from the master for 13.5 s"


class _Events:
    def __init__(self) -> None:
        self.listeners: dict[str, list[Any]] = {}

    def __getattr__(self, name: str) -> Any:
        return SimpleNamespace(add_listener=lambda f: self.listeners.setdefault(name, []).append(f))


class _Master:
    """What `WorkerWatch` uses of Locust's `MasterRunner`, around a real `WorkerNodes` list."""

    def __init__(self, clients: Any) -> None:
        self.clients = clients
        self.state = "running"
        self._users_dispatcher = None
        self.sent: list[tuple[str, str | None]] = []
        self.environment = SimpleNamespace(events=_Events(), runner=self)

    @property
    def worker_count(self) -> int:
        return len(self.clients)

    def register_message(self, name: str, handler: Any) -> None:
        pass

    def send_message(self, kind: str, data: Any = None, client_id: str | None = None) -> None:
        self.sent.append((kind, client_id))


def check_the_master_loses_a_silent_worker_after_3_s_and_forgets_it() -> None:
    from locust.runners import WorkerNode, WorkerNodes

    from rtbench.load.distributed.handshake import ConfigDistribution, WorkerIdentity
    from rtbench.load.distributed.liveness import WorkerWatch
    from rtbench.load.distributed.shipping import MasterReceiving
    from rtbench.load.distributed.watchdog import LOST
    from rtbench.metrics.aggregate import Aggregator
    from rtbench.metrics.phases import Phase

    clients = WorkerNodes()
    clients["a"], clients["b"] = WorkerNode("a"), WorkerNode("b")
    clients["a"].user_classes_count = {"ChatUser": 7}
    runner = _Master(clients)
    receiving = MasterReceiving(runner.environment, Aggregator(lambda second: Phase.STEADY))
    roster = ConfigDistribution.__new__(ConfigDistribution)
    roster.workers = {"a": WorkerIdentity(41, "box"), "b": WorkerIdentity(42, "box")}
    clock = _Clock()
    watch = WorkerWatch(runner, receiving, roster, silence_s=3.0, clock=clock)  # type: ignore[arg-type]
    watch.started = 2
    receiving.gauges = {"a": {"sessions": 7}, "b": {"sessions": 3}}
    heard = runner.environment.events.listeners["heartbeat_sent"][0]

    assert watch.check() == []
    for _ in range(3):  # b keeps answering, a is silent
        clock.now += 1.0
        heard(client_id="b", timestamp=clock.now)
        assert watch.check() == []
    clock.now += 0.5
    (lost,) = watch.check()
    assert lost.kind == "worker_lost"
    detail = "worker box (pid 41) stopped sending heartbeats (3.5 s without one); its 7 users go to the other worker"
    assert lost.detail == detail
    assert list(runner.clients) == ["b"] and receiving.gauges == {"b": {"sessions": 3}}
    assert runner.sent == [(LOST, "a")]
    assert watch.partial_reason() == "lost 1 of 2 workers: worker box (pid 41)"

    # what it ships once resumed is counted, not merged
    receiving._absorb("a", {"intervals": [{"second": 5, "counters": {"turns_completed": 4}}], "gauges": {}})
    assert receiving.gauges == {"b": {"sessions": 3}}
    assert watch.notes() == [
        "worker box (pid 41) shipped 1 intervals after it was lost (0 turns sent, 4 completed): dropped, not merged"
    ]


def check_a_stalled_master_does_not_lose_its_workers() -> None:
    """The master itself did not run for 5 s: what its workers sent may wait unread."""
    from locust.runners import WorkerNode, WorkerNodes

    from rtbench.load.distributed.handshake import ConfigDistribution
    from rtbench.load.distributed.liveness import WorkerWatch
    from rtbench.load.distributed.shipping import MasterReceiving
    from rtbench.metrics.aggregate import Aggregator
    from rtbench.metrics.phases import Phase

    clients = WorkerNodes()
    clients["a"] = WorkerNode("a")
    runner = _Master(clients)
    receiving = MasterReceiving(runner.environment, Aggregator(lambda second: Phase.STEADY))
    roster = ConfigDistribution.__new__(ConfigDistribution)
    roster.workers = {}
    clock = _Clock()
    watch = WorkerWatch(runner, receiving, roster, silence_s=3.0, clock=clock)  # type: ignore[arg-type]
    assert watch.check() == []
    clock.now += 5.0
    assert watch.check() == []
    for _ in range(3):  # checked once a second again: silence counts from the end of the stall
        clock.now += 1.0
        assert watch.check() == []
    clock.now += 1.0
    assert [w.kind for w in watch.check()] == ["worker_lost"]


if __name__ == "__main__":
    globals()[sys.argv[1]]()
    print("ok")
