"""Moving interval histograms from load processes to the aggregating master, exactly.

Workers ship every closed wall-clock second inside Locust's `report_to_master` message and answer a
final `rtbench_flush` with everything they still hold. The master merges with `decode_and_add`
(through `Aggregator.add`), which checks that histogram configurations are identical.

A worker the master has counted as lost (`MasterReceiving.forget`) adds nothing more: its gauges
leave the merged ones, and whatever it ships afterwards (a stopped process that is resumed) is
dropped and counted (`MasterReceiving.dropped`), since its users run on the other workers by then.
The turns it had sent whose end the master never heard of are counted as cancelled then (and as
`turns_lost_with_worker`), so turns sent = completed + failed + cancelled still holds for the run.

With --export-turns, the rows of the turns a worker ended since its last report travel in the same
message (`turns`) and are handed to `on_turns` (the bundle's turns.jsonl) as they arrive.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import locust.runners

from rtbench.load.state import TURN_COUNTERS, ProcessState
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.recorder import Interval

__all__ = ["WorkerShipping", "MasterReceiving", "Dropped", "FLUSH", "FINAL", "STOP", "REPORT_INTERVAL_S"]

FLUSH = "rtbench_flush"
FINAL = "rtbench_final"
STOP = "rtbench_stop"
REPORT_INTERVAL_S = 1.0
PAYLOAD_KEY = "rtbench"


#: Called with the intervals a worker is about to ship (e.g. to keep a local copy).
IntervalTap = Callable[[list[Interval]], None]
#: Called with the turns.jsonl rows of turns that ended (`rtbench.load.turn_export`).
TurnRows = Callable[[list[dict[str, Any]]], None]


def _payload(
    state: ProcessState, now: float | None, extra: dict[str, Any], tap: IntervalTap | None = None
) -> dict[str, Any]:
    intervals = state.recorder.take_closed(now)
    if tap is not None and intervals:
        tap(intervals)
    payload = {"intervals": [iv.to_wire() for iv in intervals], "gauges": {**state.gauges(), **extra}}
    rows = state.take_turn_rows()
    if rows:
        payload["turns"] = rows
    return payload


class WorkerShipping:
    """Attach to a worker's environment: ship intervals each report, flush on request."""

    def __init__(
        self,
        environment: Any,
        state: ProcessState,
        gauges: Callable[[], dict[str, float | None]],
        tap: IntervalTap | None = None,
    ) -> None:
        self._environment = environment
        self._state = state
        self._gauges = gauges
        self._tap = tap
        locust.runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
        environment.events.report_to_master.add_listener(self._on_report)
        runner = environment.runner
        runner.register_message(FLUSH, self._on_flush)
        runner.register_message(STOP, self._on_stop)

    def _on_report(self, client_id: str, data: dict[str, Any]) -> None:
        data[PAYLOAD_KEY] = _payload(self._state, time.time(), self._gauges(), self._tap)

    def _on_stop(self, environment: Any, msg: Any) -> None:
        self._state.stopping = True

    def _on_flush(self, environment: Any, msg: Any) -> None:
        self._state.cancel_open_turns()  # counted before the last shipment, never after it
        environment.runner.send_message(FINAL, _payload(self._state, None, self._gauges(), self._tap))


@dataclass
class Dropped:
    """What a lost worker shipped after it was counted as lost: not merged, only counted."""

    intervals: int = 0
    counters: Counter[str] = field(default_factory=Counter)


class MasterReceiving:
    """Attach to a master's environment: merge what workers ship, keep their latest gauges."""

    def __init__(self, environment: Any, aggregator: Aggregator, on_turns: TurnRows | None = None) -> None:
        self._aggregator = aggregator
        self._on_turns = on_turns
        self.gauges: dict[str, dict[str, Any]] = {}
        self.finished: set[str] = set()
        #: Client id of each lost worker -> what it shipped after that.
        self.dropped: dict[str, Dropped] = {}
        self._turns: dict[str, Counter[str]] = {}  # each worker's turn counters, as merged
        environment.events.worker_report.add_listener(self._on_worker_report)
        environment.runner.register_message(FINAL, self._on_final)

    def forget(self, client_id: str) -> None:
        """Count worker `client_id` as lost: drop its gauges now and anything it ships later, and
        count the turns it sent whose end was never merged as cancelled with it."""
        self.gauges.pop(client_id, None)
        if client_id in self.dropped:
            return
        self.dropped[client_id] = Dropped()
        turns = self._turns.pop(client_id, Counter())
        ended = sum(n for name, n in turns.items() if name != "turns_sent")
        unresolved = turns["turns_sent"] - ended
        if unresolved > 0:
            counters = {"turns_cancelled": unresolved, "turns_lost_with_worker": unresolved}
            self._aggregator.add(Interval(second=int(time.time()), counters=counters))

    def _absorb(self, client_id: str, payload: dict[str, Any] | None) -> None:
        if not payload:
            return
        dropped = self.dropped.get(client_id)
        if dropped is not None:
            for wire in payload["intervals"]:
                dropped.intervals += 1
                dropped.counters.update(Interval.from_wire(wire).counters)
            return
        turns = self._turns.setdefault(client_id, Counter())
        for wire in payload["intervals"]:
            interval = Interval.from_wire(wire)
            self._aggregator.add(interval)
            turns.update({name: n for name, n in interval.counters.items() if name in TURN_COUNTERS})
        self.gauges[client_id] = payload["gauges"]
        rows = payload.get("turns")
        if rows and self._on_turns is not None:
            self._on_turns(rows)

    def _on_worker_report(self, client_id: str, data: dict[str, Any]) -> None:
        self._absorb(client_id, data.get(PAYLOAD_KEY))

    def _on_final(self, environment: Any, msg: Any) -> None:
        self._absorb(msg.node_id, msg.data)
        if msg.node_id not in self.dropped:
            self.finished.add(msg.node_id)


def ship_local(
    state: ProcessState, aggregator: Aggregator, now: float | None, on_turns: TurnRows | None = None
) -> None:
    """In-process runs: move closed seconds straight into the aggregator (and the rows of ended
    turns to `on_turns`)."""
    for interval in state.recorder.take_closed(now):
        aggregator.add(interval)
    rows = state.take_turn_rows()
    if rows and on_turns is not None:
        on_turns(rows)
