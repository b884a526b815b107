"""The run orchestrator: start the swarm, walk the phases, collect every second, write the bundle."""

from __future__ import annotations

import logging
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust.runners import MasterRunner, Runner

from rtbench.bundle.summary_types import Summary
from rtbench.config import RunConfig
from rtbench.load.bundle_writer import BundleWriter, SummaryInputs
from rtbench.load.connections import check_transport
from rtbench.load.distributed.environment import build_environment, client_gauges, freeze_gc
from rtbench.load.distributed.gauges import merge_gauges
from rtbench.load.distributed.handshake import ConfigDistribution
from rtbench.load.distributed.liveness import WorkerWatch
from rtbench.load.distributed.pool import WorkerPool
from rtbench.load.distributed.shipping import FLUSH, STOP, MasterReceiving, ship_local
from rtbench.load.live import LiveStatus, live_status
from rtbench.load.liveness import AbortCheck, RunStops
from rtbench.load.locust_shape import LocustShape
from rtbench.load.monitors import ClientLagMonitor
from rtbench.load.outage import ScheduledOutage
from rtbench.load.quota import FixedWork
from rtbench.load.run_checks import RunChecks
from rtbench.load.state import new_adapter
from rtbench.load.target import TargetWatch, target_gauges
from rtbench.load.trace_feed import start_trace, trace_ended
from rtbench.metrics.aggregate import Aggregator, ClosedSecond
from rtbench.metrics.phases import Phase, PhaseBoundaries
from rtbench.values import parse_host_port

__all__ = ["RunResult", "run_load"]

log = logging.getLogger(__name__)
TICK_S = 1.0
RAMP_SLACK_S = 15.0
SETTLE_S = 2.0
FLUSH_TIMEOUT_S = 10.0
LOCAL_WORKER_WAIT_S = 60.0


@dataclass(frozen=True)
class RunResult:
    """Where the bundle went and how the run ended."""

    bundle_dir: Path
    summary: Summary
    partial: bool
    partial_reason: str | None
    #: Why a bundle file could not be written (a full disk); the summary was written all the same.
    bundle_failure: str | None = None


def run_load(
    config: RunConfig,
    out_dir: Path,
    on_tick: Callable[[LiveStatus], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    outage: ScheduledOutage | None = None,
    abort: AbortCheck | None = None,
) -> RunResult:
    """Run `config` to the end (or to Ctrl-C, a dead target or a crash) and write its bundle.
    With `outage`, the local target is killed (and restarted) on its schedule, as a planned fault.
    With `abort`, the run stops early, partial, on the first tick it answers a reason."""
    new_adapter(config)  # a bad protocol name or [adapter] option fails here, in one line
    check_transport(config)  # so does a protocol at a URL no transport of its wire serves
    # the target's reachability is checked once, before this, by `rtbench.preflight.preflight`
    return _Run(config, out_dir, on_tick, on_warning, outage, abort).execute()


class _Run(RunChecks):
    def __init__(
        self,
        config: RunConfig,
        out_dir: Path,
        on_tick: Callable[[LiveStatus], None] | None,
        on_warning: Callable[[str], None] | None,
        outage: ScheduledOutage | None = None,
        abort: AbortCheck | None = None,
    ) -> None:
        self.config = config
        self.outage = outage
        self.stops = RunStops(config.target.down_after, abort)
        self.on_tick = on_tick or (lambda status: None)
        self.on_warning = on_warning or (lambda message: None)
        self.phases = PhaseBoundaries()
        self.run_start = time.time()
        self.run_end: float | None = None
        self.writer = BundleWriter(out_dir, config)
        self.aggregator = Aggregator(self.phases.phase_of, on_closed=self._on_closed)
        self.environment, self.state = build_environment(config, seed=config.seed)
        self.shape = config.shape.spec  # compiled once, by `rtbench.scenario.resolve`
        self.shape_started: float | None = None
        if self.shape is not None:
            self.environment.shape_class = LocustShape(self.shape)  # before the runner exists
        self.pool: WorkerPool | None = None
        self.receiving: MasterReceiving | None = None
        self.client = client_gauges()
        self.lag = ClientLagMonitor(self.state.recorder.record)
        self.target = TargetWatch(config)
        self.partial_reason: str | None = None
        self.interrupted = 0
        self.last_closed: ClosedSecond | None = None
        self.gauges: dict[int, dict[str, Any]] = {}
        self.workers: WorkerWatch | None = None
        self.work = FixedWork(config.load.fixed_work)  # --requests, --conversations

    # -- lifecycle ------------------------------------------------------------------------------

    def execute(self) -> RunResult:
        handlers = [gevent.signal_handler(sig, self._interrupt) for sig in (signal.SIGINT, signal.SIGTERM)]
        try:
            self._start()
            self._ramp()
            if not self._stop_requested():
                self._steady()
        except Exception as exc:  # noqa: BLE001 - a crash must still leave a bundle
            self.partial_reason = f"crashed: {type(exc).__name__}: {exc}"
            self.writer.write_text("error.log", traceback.format_exc())
        finally:
            self._finish()
            self._note_lost_workers()
            self.partial_reason = self.work.explain(self.partial_reason, self.aggregator.counters(list(Phase)))
            for handler in handlers:
                handler.cancel()
        summary = self.writer.finish(self._summary_inputs())  # a failed write is its partial reason
        return RunResult(
            self.writer.directory, summary, summary["partial"], summary["partial_reason"], self.writer.failure
        )

    def _interrupt(self) -> None:
        self.interrupted += 1
        if self.partial_reason is None:
            self.partial_reason = "interrupted"
            self.writer.event("interrupted", "Ctrl-C or SIGTERM: stopping the run")
        self.on_warning("interrupted: stopping the run and writing a partial bundle")

    def _stop_requested(self) -> bool:
        return self.partial_reason is not None or self.work.done

    def _start(self) -> None:
        self.writer.open(self.run_start)
        self.writer.note_idle_target(self.target.sample())
        config = self.config
        if config.load.workers > 1 or config.load.expect_workers:
            self._start_master()
        else:
            local = self.environment.create_local_runner()
            self.state.start_ledger(local.greenlet.spawn)  # dies with the runner
        self.lag.start()
        runner = self._runner()
        if self.shape is not None:
            runner.start_shape()
            self.shape_started = time.time()
        else:
            runner.start(config.load.users, config.load.spawn_rate)

    def _runner(self) -> Runner:
        runner = self.environment.runner
        if runner is None:
            raise RuntimeError("the Locust runner is not created yet")
        return runner

    def _master(self) -> MasterRunner:
        runner = self.environment.runner
        if not isinstance(runner, MasterRunner):
            raise RuntimeError("this run has no master runner")
        return runner

    def _start_master(self) -> None:
        """A master on `master_bind` (or loopback) with local worker processes or remote ones."""
        config = self.config
        host, port = parse_host_port(config.load.master_bind) if config.load.master_bind else ("127.0.0.1", 0)
        runner = self.environment.create_master_runner(host, port)
        roster = ConfigDistribution(self.environment, config)
        self.receiving = MasterReceiving(self.environment, self.aggregator, self.writer.write_turns)
        wanted = config.load.expect_workers or config.load.workers
        if config.load.expect_workers:
            self.on_warning(f"waiting for {wanted} workers on {host}:{runner.server.port}")
            wait = config.load.worker_wait
        else:
            self.pool = WorkerPool(config, runner.server.port)
            self.pool.start()
            wait = LOCAL_WORKER_WAIT_S
        self.workers = WorkerWatch(runner, self.receiving, roster, self.pool)
        deadline = time.monotonic() + wait
        while runner.worker_count < wanted:
            self._check_workers_alive()
            if self._stop_requested():
                raise RuntimeError(f"stopped while waiting for workers ({runner.worker_count} of {wanted})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {runner.worker_count} of {wanted} workers connected within {wait:g} s")
            gevent.sleep(0.1)
        self.workers.started = runner.worker_count

    def _ramp(self) -> None:
        """Until the first users are connected (a shape's first stage), then settle."""
        users = self.shape.stages[0].users if self.shape is not None else self.config.load.users
        expected = users / self.config.load.spawn_rate + self.config.target.connect_timeout + RAMP_SLACK_S
        deadline = time.time() + expected
        while not self._stop_requested():
            sessions = self._tick()["sessions"]
            if sessions >= users:
                self._settle()
                break
            if time.time() > deadline:
                self.writer.warn(
                    f"ramp: only {sessions} of {users} sessions connected after {expected:.0f} s;"
                    " steady state starts anyway"
                )
                break
        self.phases.ramp_end = time.time()

    def _settle(self) -> None:
        """Freeze the GC (a 200-300 ms collection) and let the ramp's stall drain before steady."""
        if self.pool is None:
            freeze_gc()
        end = time.time() + SETTLE_S
        while time.time() < end and not self._stop_requested():
            self._tick(sleep=min(TICK_S, max(0.0, end - time.time())))

    def _steady(self) -> None:
        assert self.phases.ramp_end is not None
        end = self.phases.ramp_end + self.config.load.duration
        if self.shape is not None and self.shape_started is not None:
            end = self.shape_started + self.shape.duration  # the shape's clock started with it
        start_trace(self.environment, self.state.trace_feed)  # a trace ends the run once it has
        while time.time() < end and not self._stop_requested():
            if trace_ended(self.config, self._tick(sleep=min(TICK_S, max(0.0, end - time.time())))):
                break
        self.partial_reason = self.partial_reason or self.work.past_limit(self.config.load.duration)

    def _finish(self) -> None:
        """Stop users, wait for turns in flight, flush every process, then quit Locust."""
        self.phases.stop_start = time.time()
        runner = self.environment.runner
        if runner is None:
            return
        self.state.stopping = True
        if self.receiving is not None:  # every worker, local or remote
            runner.send_message(STOP)
        grace_end = time.time() + (1.0 if self.interrupted else self.config.load.stop_grace)
        while time.time() < grace_end and self.interrupted < 2 and not self.work.done:
            if self._safe_tick()["in_flight"] == 0:
                break
        self._flush()
        if self.receiving is not None:
            self.writer.note_processes({w: g.get("turns", {}) for w, g in self.receiving.gauges.items()})
        self.lag.stop()
        runner.quit()
        if self.pool is not None:
            self.pool.stop()
        self.run_end = time.time()
        self.aggregator.close_all()

    def _flush(self) -> None:
        """The last intervals of every process, each with its turns still in flight counted as
        cancelled first (here, and by each worker on FLUSH): none is counted after its flush."""
        self.state.cancel_open_turns()
        if self.receiving is None:
            ship_local(self.state, self.aggregator, None, self.writer.write_turns)
            return
        master = self._master()
        master.send_message(FLUSH)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while len(self.receiving.finished) < master.worker_count:
            if time.monotonic() > deadline:
                self.writer.warn("flush: some workers did not send their last intervals in time")
                break
            gevent.sleep(0.05)
        ship_local(self.state, self.aggregator, None, self.writer.write_turns)

    # -- every second ---------------------------------------------------------------------------

    def _safe_tick(self) -> dict[str, Any]:
        try:
            return self._tick(sleep=0.2)
        except Exception:  # noqa: BLE001 - stopping must go on
            return {"in_flight": 0, "sessions": 0}

    def _tick(self, sleep: float = TICK_S) -> dict[str, Any]:
        gevent.sleep(sleep)
        now = time.time()
        ship_local(self.state, self.aggregator, now, self.writer.write_turns)
        gauges = self._gauges(now)
        self.gauges[int(now)] = gauges
        self.aggregator.close_through(now)
        self._check_bundle()
        self.on_tick(live_status(now - self.run_start, gauges, self.last_closed, self.config))
        self._run_outage(now)
        self._check_target()
        self._check_stops(now, gauges["sessions"])
        self._check_workers_alive()
        self._check_spawning()
        self._check_protocol(gauges)
        self.work.check(gauges, self.receiving, self.environment.runner)
        return gauges

    def _gauges(self, now: float) -> dict[str, Any]:
        self._check_workers_alive()  # first: a worker lost now leaves this second's gauges
        own = {**self.state.gauges(), **self.client()}
        if self.receiving is not None:
            own = merge_gauges(own, self.receiving.gauges.values())
        own.update(
            users=self.environment.runner.user_count if self.environment.runner else 0,
            phase=self.phases.phase_of(int(now)).value,
            **target_gauges(self.target.sample()),
        )
        return own

    def _run_outage(self, now: float) -> None:
        if self.outage is None or self.phases.ramp_end is None or self.phases.stop_start is not None:
            return
        for kind, detail in self.outage.tick(now - self.phases.ramp_end):
            self.writer.event(kind, detail)
            self.on_warning(detail)
            if kind == "target_restarted":
                self.target.retarget(self.outage.pid)

    def _on_closed(self, closed: ClosedSecond) -> None:
        self.last_closed = closed
        self.writer.write_second(closed, self.gauges.pop(closed.second, {}))

    def _summary_inputs(self) -> SummaryInputs:
        return SummaryInputs(
            aggregator=self.aggregator,
            phases=self.phases.spans(self.run_start, self.run_end),
            started_at=self.run_start,
            ended_at=self.run_end,
            partial_reason=self.partial_reason,
            target_source=self.target.source,
        )
