"""What ends a run early, checked on every tick: a target gone, the target down or an --abort-on
rule lost, workers lost, a bundle that can no longer be written, users that cannot start, and a
protocol that cannot match the server. Each sets the run's `partial_reason` (once) and says why."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from locust.env import Environment

from rtbench.config import RunConfig
from rtbench.load.bundle_writer import BundleWriter
from rtbench.load.distributed.liveness import WorkerWatch
from rtbench.load.liveness import RunStops
from rtbench.load.outage import ScheduledOutage
from rtbench.load.target import TargetWatch
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.phases import PhaseBoundaries

__all__ = ["RunChecks"]


class RunChecks:
    """The checks of `rtbench.load.runner`'s run, on the state it keeps (declared here)."""

    config: RunConfig
    outage: ScheduledOutage | None
    stops: RunStops
    on_warning: Callable[[str], None]
    phases: PhaseBoundaries
    writer: BundleWriter
    aggregator: Aggregator
    environment: Environment
    target: TargetWatch
    partial_reason: str | None
    workers: WorkerWatch | None

    def _check_target(self) -> None:
        if self.outage is not None and self.outage.killed_at is not None:
            return  # a planned outage: the target is meant to go (and maybe to come back)
        if self.target.gone and not any(e["kind"] == "target_crash" for e in self.writer.events):
            self.writer.event("target_crash", f"target process {self.config.target.pid} exited")
        if self.target.gone and self.partial_reason is None:
            self.partial_reason = "target process exited"
            self.on_warning("the target process exited: stopping the run")

    def _check_stops(self, now: float, sessions: int) -> None:
        """Stop the run, partial, once the target is down without its PID too, or an --abort-on
        rule is lost (`rtbench.load.liveness`)."""
        planned = self.outage is not None and self.outage.killed_at is not None
        if self.phases.stop_start is None and self.partial_reason is None:
            stop = self.stops.check(now, sessions, self.aggregator, planned)
            if stop is not None:
                self.partial_reason = stop[0]
                self.writer.event(stop[1], stop[2])
                self.on_warning(f"{stop[2]}: stopping the run")

    def _check_workers_alive(self) -> None:
        """A worker that exits or stops sending heartbeats is reported within seconds and its users
        go to the others (`distributed.liveness`); the run stops only when none is left."""
        if self.workers is None:
            return
        for lost in self.workers.check(hand_over=self.phases.stop_start is None):
            self.writer.event(lost.kind, lost.detail)
            self.writer.warn(f"{lost.detail} (at {time.strftime('%H:%M:%S')})")
            self.on_warning(lost.detail)
        if self.workers.all_lost and self.partial_reason is None:
            self.partial_reason = self.workers.partial_reason()

    def _note_lost_workers(self) -> None:
        """A run that lost a worker is partial (exit 3), and says what the lost ones shipped late."""
        if self.workers is None:
            return
        for note in self.workers.notes():
            self.writer.warn(note)
        if self.partial_reason is None:
            self.partial_reason = self.workers.partial_reason()

    def _check_bundle(self) -> None:
        """A bundle file that can no longer be written (a full disk) ends the run: the summary,
        written into the space held for it, says so."""
        if self.writer.failure is not None and self.partial_reason is None:
            self.partial_reason = self.writer.failure

    def _check_spawning(self) -> None:
        """A user that cannot even be created (a bug, a bad plugin) ends the run as a crash."""
        spawning = getattr(self.environment.runner, "spawning_greenlet", None)
        if spawning is not None and spawning.ready() and spawning.exception is not None:
            exc = spawning.exception
            raise RuntimeError(f"starting users failed: {type(exc).__name__}: {exc}")

    def _check_protocol(self, gauges: dict[str, Any]) -> None:
        message = gauges.get("config_error")
        if message and self.partial_reason is None:
            self.partial_reason = f"protocol mismatch: {message}"
            self.on_warning(self.partial_reason)
