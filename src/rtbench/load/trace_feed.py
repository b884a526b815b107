"""Trace replay in one load process: its share of the trace's units, handed to free users.

The run starts the trace's clock once its users are connected (`start_trace`): a wall-clock
moment shared by every process (`TRACE_START` to the workers), from which each row is planned at
its offset. A free user takes the next unit (one conversation, or one row) in the order of their
first rows and sends its rows at their planned times; a row that finds no free user waits for
one and goes late, still timed from its planned send. The run ends once every process has no
row left to end (the `trace_pending` gauge, summed over processes, is 0).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Iterator
from time import perf_counter
from typing import TYPE_CHECKING, Any

import gevent.event

from rtbench.config import RunConfig
from rtbench.load.arrivals import LATE_TOLERANCE_S
from rtbench.load.turn_in_flight import sleep_until
from rtbench.metrics.recorder import Recorder
from rtbench.prompts.synthetic import SyntheticText
from rtbench.prompts.tokens import TokenCounter
from rtbench.trace.replay import load_trace
from rtbench.trace.schedule import PlannedRow, Unit, plan_units, shard

if TYPE_CHECKING:  # the session imports the process state, which holds the feed
    from rtbench.load.session import Session

__all__ = ["TRACE_LATE_S", "TRACE_LEAD_S", "TRACE_START", "TraceFeed", "start_trace", "trace_ended"]

#: The message that carries the trace's start (wall-clock seconds) to the workers.
TRACE_START = "rtbench_trace_start"
#: How long after the run decides to start the trace its first row is planned (time for the
#: message to reach every worker).
TRACE_LEAD_S = 0.3
#: A row sent this much after its planned send counts as late (`trace_rows_late`): the replay's
#: tolerance. (`turns_late` keeps the open-loop rule, 1 ms.)
TRACE_LATE_S = 0.005


class TraceFeed:
    """This process's units of the trace (process `index` of `count`), and its rows not ended."""

    __slots__ = ("_units", "_recorder", "_rng", "_text", "_started", "_done", "_origin", "rows", "skipped", "pending")

    def __init__(
        self,
        config: RunConfig,
        recorder: Recorder,
        rng: random.Random,
        counter: TokenCounter,
        shard_of: tuple[int, int],
    ) -> None:
        """This process's share (`shard_of`: its index among the load processes, and their
        count); prompts are sized by `counter`, the run's token counter."""
        assert config.trace.file is not None
        index, count = shard_of
        trace = load_trace(config.trace.file)
        self._units: deque[Unit] = deque(shard(plan_units(trace, config.trace.speed), index, count))
        self._recorder = recorder
        self._rng = rng
        self._text = SyntheticText(counter=counter)
        self._started = gevent.event.Event()
        self._done = gevent.event.Event()
        self._origin = 0.0
        #: This process's rows, and the rows of the trace it skipped (its share of them).
        self.rows = sum(len(unit.rows) for unit in self._units)
        self.skipped = len(shard(trace.skipped, index, count))
        #: Rows not yet ended (sent and ended, or given up unsent).
        self.pending = self.rows

    def start(self, epoch: float) -> None:
        """Start the trace's clock: its first row is planned at wall-clock `epoch`."""
        if self._started.is_set():
            return
        self._origin = perf_counter() + (epoch - time.time())
        self._recorder.count("trace_rows", self.rows)
        if self.skipped:
            self._recorder.count("trace_rows_skipped", self.skipped)
        self._started.set()

    def take(self) -> Unit:
        """The next unit for a free user, once the trace has started (when none is left, this
        waits until the run stops its users)."""
        self._started.wait()
        if not self._units:
            self._done.wait()  # never set
        return self._units.popleft()

    def due_rows(self, unit: Unit, session: Session) -> Iterator[tuple[float, str, int]]:
        """`unit`'s rows in order, each as (planned time, text, max_tokens) at its planned time
        (never before: it is timed from its plan), or later when the previous row ended late; a
        row whose session is down and cannot come back is given up, unsent."""
        for row in unit.rows:
            try:
                text, planned = self.prompt(row), self.planned(row)
                if session.up or session.ensure_up():
                    sleep_until(planned)
                    yield planned, text, row.output_tokens
            finally:
                self.row_ended()

    def planned(self, row: PlannedRow) -> float:
        """When `row` is planned (perf_counter seconds)."""
        return self._origin + row.offset_s

    def prompt(self, row: PlannedRow) -> str:
        """The user text of `row`: a synthetic passage of its `input_tokens`."""
        return self._text.text(row.input_tokens, self._rng)

    def sent(self, planned: float) -> None:
        """Count a row sent now, and how late against its plan (`send_lag`)."""
        recorder = self._recorder
        lag = perf_counter() - planned
        recorder.record("send_lag", max(1.0, lag * 1e6))
        recorder.count("trace_rows_sent")
        if lag > LATE_TOLERANCE_S:
            recorder.count("turns_late")  # the open-loop rule
        if lag > TRACE_LATE_S:
            recorder.count("trace_rows_late")

    def row_ended(self) -> None:
        self.pending -= 1


def start_trace(environment: Any, feed: TraceFeed | None) -> None:
    """Start the run's trace (if it has one) `TRACE_LEAD_S` from now, here and on every worker."""
    state = environment.rtbench
    if state.config.trace.file is None:
        return
    from locust.runners import MasterRunner  # here: importing locust patches the standard library

    epoch = time.time() + TRACE_LEAD_S
    if feed is not None:
        feed.start(epoch)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.send_message(TRACE_START, {"epoch": epoch})


def trace_ended(config: RunConfig, gauges: dict[str, Any]) -> bool:
    """Whether the run's trace has no row left to end, in any process."""
    return config.trace.file is not None and gauges.get("trace_pending", 1) == 0
