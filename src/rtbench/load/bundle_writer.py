"""Write a run's bundle as it goes: interval logs and time series each second, the summary at the end."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from errno import EDQUOT, EFBIG, EINVAL, ENOSPC, ENOSYS, EOPNOTSUPP
from pathlib import Path
from typing import Any, TypeVar, cast

from rtbench.bundle.builder import build_summary
from rtbench.bundle.events import EventLog, RunEvent
from rtbench.bundle.files import Closing
from rtbench.bundle.hlog import IntervalLogWriter
from rtbench.bundle.paths import (
    EVENTS_FILE,
    HLOG_SUFFIX,
    RESERVE_FILE,
    RUN_FILE,
    SUMMARY_FILE,
    TIMESERIES_FILE,
    TURNS_FILE,
)
from rtbench.bundle.record import RunRecord, SecondSample
from rtbench.bundle.summary import write_summary
from rtbench.bundle.summary_types import Phases, Summary
from rtbench.bundle.timeseries import TimeseriesWriter
from rtbench.bundle.turns import TurnLog
from rtbench.config import RunConfig, redacted
from rtbench.errors import BundleError
from rtbench.load.versions import versions
from rtbench.metrics.aggregate import Aggregator, ClosedSecond
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import FAILURE_KINDS, failure_counter
from rtbench.metrics.phases import Phase

__all__ = ["BundleWriter", "SummaryInputs", "TIMESERIES_COLUMNS", "SUMMARY_RESERVE_BYTES"]

T = TypeVar("T")
#: Space held from the start for summary.json (about 10 KB) and its temporary copy.
SUMMARY_RESERVE_BYTES = 256 * 1024

TIMESERIES_COLUMNS = (
    "time",
    "second",
    "phase",
    "users",
    "sessions",
    "in_flight",
    "turns_sent",
    "turns_completed",
    "turns_failed",
    "tokens",
    "ttft_p50_ms",
    "ttft_p95_ms",
    "ttft_p99_ms",
    "e2e_p50_ms",
    "e2e_p95_ms",
    "e2e_p99_ms",
    "itl_p50_ms",
    "itl_p99_ms",
    "client_cpu",
    "client_lag_p99_ms",
    "client_lag_max_ms",
    "client_runq_ms",
    "client_runq_delay_ms",
    "machine_cpu",
    "client_rss_mb",
    "target_rss_mb",
    "target_cpu",
    "target_sessions",
    # an LLM server's own metrics (--target-metrics): queue, KV-cache use, server-side tokens/s
    "target_waiting",
    "target_running",
    "target_kv_cache_pct",
    "target_prompt_tokens_per_s",
    "target_generation_tokens_per_s",
)
ROW_PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class SummaryInputs:
    """What the run itself knows at its end, beyond what the writer saw each second."""

    aggregator: Aggregator
    #: {phase: {start, end}} (`PhaseBoundaries.spans`).
    phases: Mapping[str, Mapping[str, float | None]]
    started_at: float
    ended_at: float | None
    partial_reason: str | None
    target_source: str | None


def _mb(value: float | None) -> float | None:
    return round(value / 2**20, 3) if value is not None else None


def _rounded(value: float | None, places: int) -> float | None:
    return round(value, places) if value is not None else None


def _pct(fraction: float | None) -> float | None:
    return 100.0 * fraction if fraction is not None else None


def _max_ms(closed: ClosedSecond, metric: str) -> float | None:
    """The largest value of one second's metric in ms (HDR's highest equivalent value)."""
    h = closed.histograms.get(metric)
    return round(h.max_us / 1000.0, 3) if h is not None and h.total_count and h.max_us is not None else None


def _percentiles_ms(closed: ClosedSecond, metric: str) -> dict[float, float | None]:
    """p50/p95/p99 of one second's metric in ms, in one scan of the histogram."""
    h = closed.histograms.get(metric)
    if h is None or not h.total_count:
        return dict.fromkeys(ROW_PERCENTILES)
    return {p: round(v / 1000.0, 3) for p, v in h.percentiles(ROW_PERCENTILES).items()}


class BundleWriter:
    """Owns one bundle directory for the length of a run."""

    def __init__(self, directory: Path, config: RunConfig) -> None:
        self.directory = Path(directory)
        self._config = config
        self._hlogs: dict[str, IntervalLogWriter] = {}
        self._timeseries: TimeseriesWriter | None = None
        self._seconds: list[SecondSample] = []
        self._warnings: list[str] = []
        self._idle_rss: float | None = None
        self._start = 0.0
        self._events: list[RunEvent] = []
        self._event_log: EventLog | None = None
        self._failure: str | None = None
        self._processes: dict[str, dict[str, int]] = {}
        self._turns: TurnLog | None = None

    def open(self, start: float) -> None:
        """Create the bundle's files. A summary.json already there (of an older run) is removed
        first, so a run killed later can never be read with an older run's figures."""
        self._start = start
        self._guarded("the bundle directory", self.directory.mkdir, parents=True, exist_ok=True)
        self._guarded(SUMMARY_FILE, (self.directory / SUMMARY_FILE).unlink, missing_ok=True)
        self._guarded(RESERVE_FILE, self._reserve)
        self._timeseries = self._guarded(
            TIMESERIES_FILE, TimeseriesWriter, self.directory / TIMESERIES_FILE, TIMESERIES_COLUMNS
        )
        self._event_log = self._guarded(EVENTS_FILE, EventLog, self.directory / EVENTS_FILE)
        if self._config.load.exports_turns:
            self._turns = self._guarded(TURNS_FILE, TurnLog, self.directory / TURNS_FILE)
        # what a run killed before its summary still tells about itself (SCHEMA.md: run.json)
        run = {
            "rtbench_version": versions()["rtbench"],
            "scenario": self._config.scenario,
            "started_at": start,
            "config": redacted(self._config),
            "versions": versions(),
            "pid": os.getpid(),
        }
        self._guarded(RUN_FILE, write_summary, self.directory / RUN_FILE, run)

    @property
    def failure(self) -> str | None:
        """Why the bundle could not be written in full (a full disk), once a write failed."""
        return self._failure

    def _reserve(self) -> None:
        """Hold SUMMARY_RESERVE_BYTES of the disk in RESERVE_FILE (zeros where a file system
        cannot allocate without writing)."""
        fd = os.open(self.directory / RESERVE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            try:
                os.posix_fallocate(fd, 0, SUMMARY_RESERVE_BYTES)
            except OSError as exc:
                if exc.errno not in (EOPNOTSUPP, EINVAL, ENOSYS):
                    raise
                os.write(fd, bytes(SUMMARY_RESERVE_BYTES))
        finally:
            os.close(fd)

    def _guarded(self, name: str, action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`action(*args)`, writing the bundle's file `name`; once a write failed, nothing more is
        written but the summary (the first failure becomes the run's partial reason)."""
        if self._failure is not None:
            return None
        try:
            return action(*args, **kwargs)
        except (OSError, BundleError) as exc:
            self._fail(name, exc)
            return None

    def _fail(self, name: str, exc: BaseException) -> None:
        cause = exc.__cause__ if isinstance(exc, BundleError) and exc.__cause__ is not None else exc
        errno = getattr(cause, "errno", None)
        why = getattr(cause, "strerror", None) or str(cause)
        if errno in (ENOSPC, EDQUOT, EFBIG):
            self._failure = f"disk full: could not write {name} ({why})"
        else:
            self._failure = f"bundle not writable: could not write {name} ({why})"
        self._events.append(RunEvent(time.time(), "bundle_write_failed", self._failure))
        self._close_files()

    def _close_files(self) -> None:
        """Close every file written as the run goes; a close that fails (a last line that could
        not be flushed) fails the bundle as a write would."""
        files: list[tuple[str, Closing | None]] = [(f"{m}{HLOG_SUFFIX}", log) for m, log in self._hlogs.items()]
        files += [(TIMESERIES_FILE, self._timeseries), (EVENTS_FILE, self._event_log), (TURNS_FILE, self._turns)]
        self._hlogs, self._timeseries, self._event_log, self._turns = {}, None, None, None
        for name, file in files:
            if file is None:
                continue
            try:
                file.close()
            except OSError as exc:
                if self._failure is None:
                    self._fail(name, exc)

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events recorded so far, as summary.json lists them."""
        return [e.to_dict() for e in self._events]

    def event(self, kind: str, detail: str, t: float | None = None) -> None:
        """Record an event (events.jsonl at once, summary.json's `events` at the end)."""
        event = RunEvent(time.time() if t is None else t, kind, detail)
        self._events.append(event)
        if self._event_log is not None:
            self._guarded(EVENTS_FILE, self._event_log.write, event)

    def write_turns(self, rows: list[dict[str, Any]]) -> None:
        """Append the rows of turns that ended to turns.jsonl (--export-turns), flushed at once."""
        if self._turns is not None and rows:
            self._guarded(TURNS_FILE, self._turns.write, rows)

    def warn(self, message: str) -> None:
        self._warnings.append(message)

    def write_text(self, name: str, text: str) -> None:
        self._guarded(name, (self.directory / name).write_text, text, encoding="utf-8")

    def note_idle_target(self, sample: Any) -> None:
        """The target's RSS before any session: the baseline for RSS per session."""
        if sample is not None and sample.rss_bytes is not None:
            self._idle_rss = sample.rss_bytes

    def note_processes(self, turns: dict[str, dict[str, int]]) -> None:
        """Each worker's own turn counters at its last shipment (`ProcessState.gauges()["turns"]`)."""
        self._processes = {worker: dict(counts) for worker, counts in turns.items()}

    def write_second(self, closed: ClosedSecond, gauges: dict[str, Any]) -> None:
        """Append the closed second to the interval logs and the time series (kept in memory for
        the summary even when the files can no longer be written)."""
        for metric, histogram in closed.histograms.items():
            self._guarded(f"{metric}{HLOG_SUFFIX}", self._write_hlog, metric, closed.second, histogram)
        c = closed.counters
        ttft, e2e, itl, lag = (_percentiles_ms(closed, m) for m in ("ttft", "e2e", "itl", "client_lag"))
        sample = SecondSample(
            phase=closed.phase,
            second=closed.second - int(self._start),
            sessions=gauges.get("sessions"),
            users=gauges.get("users"),
            turns_completed=c.get("turns_completed", 0),
            client_cpu=gauges.get("client_cpu"),
            client_lag_max_ms=_max_ms(closed, "client_lag"),
            client_runq_ms=_rounded(gauges.get("client_runq_ms"), 3),
            client_runq_delay_ms=_rounded(gauges.get("client_runq_delay_ms"), 3),
            machine_cpu=_rounded(gauges.get("machine_cpu"), 1),
            client_rss_mb=_mb(gauges.get("client_rss_bytes")),
            client_rss_idle_mb=_mb(gauges.get("client_rss_idle_bytes")),
            target_rss_mb=_mb(gauges.get("target_rss_bytes")),
            target_cpu=gauges.get("target_cpu"),
            target_sessions=gauges.get("target_sessions"),
            target_waiting=gauges.get("target_waiting"),
            target_running=gauges.get("target_running"),
            target_kv_cache_pct=_rounded(_pct(gauges.get("target_kv_cache")), 2),
            target_prompt_tokens_per_s=_rounded(gauges.get("target_prompt_tokens_per_s"), 1),
            target_generation_tokens_per_s=_rounded(gauges.get("target_generation_tokens_per_s"), 1),
        )
        row = {
            "time": closed.second,
            "second": sample.second,
            "phase": closed.phase.value,
            "users": sample.users,
            "sessions": sample.sessions,
            "in_flight": gauges.get("in_flight"),
            "turns_sent": c.get("turns_sent", 0),
            "turns_completed": sample.turns_completed,
            "turns_failed": sum(c.get(failure_counter(k), 0) for k in FAILURE_KINDS),
            "tokens": c.get("tokens", 0),
            "ttft_p50_ms": ttft[50.0],
            "ttft_p95_ms": ttft[95.0],
            "ttft_p99_ms": ttft[99.0],
            "e2e_p50_ms": e2e[50.0],
            "e2e_p95_ms": e2e[95.0],
            "e2e_p99_ms": e2e[99.0],
            "itl_p50_ms": itl[50.0],
            "itl_p99_ms": itl[99.0],
            "client_cpu": sample.client_cpu,
            "client_lag_p99_ms": lag[99.0],
            "client_lag_max_ms": sample.client_lag_max_ms,
            "client_runq_ms": sample.client_runq_ms,
            "client_runq_delay_ms": sample.client_runq_delay_ms,
            "machine_cpu": sample.machine_cpu,
            "client_rss_mb": sample.client_rss_mb,
            "target_rss_mb": sample.target_rss_mb,
            "target_cpu": sample.target_cpu,
            "target_sessions": sample.target_sessions,
            "target_waiting": sample.target_waiting,
            "target_running": sample.target_running,
            "target_kv_cache_pct": sample.target_kv_cache_pct,
            "target_prompt_tokens_per_s": sample.target_prompt_tokens_per_s,
            "target_generation_tokens_per_s": sample.target_generation_tokens_per_s,
        }
        self._seconds.append(sample)
        if self._timeseries is not None:
            self._guarded(TIMESERIES_FILE, self._timeseries.write, row)

    def _write_hlog(self, metric: str, second: int, histogram: LatencyHistogram) -> None:
        log = self._hlogs.get(metric)
        if log is None:
            log = self._hlogs[metric] = IntervalLogWriter(self.directory / f"{metric}{HLOG_SUFFIX}", self._start)
        log.write(second, histogram)

    # -- the summary ------------------------------------------------------------------------

    def finish(self, inputs: SummaryInputs) -> Summary:
        """Close the logs, free the reserve and write `summary.json` atomically. Returns the
        summary; raises BundleError (one line: why, and what the bundle keeps) when even
        summary.json cannot be written."""
        self._close_files()
        summary = build_summary(self.record(inputs))
        with contextlib.suppress(OSError):
            (self.directory / RESERVE_FILE).unlink(missing_ok=True)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            write_summary(self.directory / SUMMARY_FILE, summary)
        except (OSError, BundleError) as exc:
            why = self._failure or "the bundle could not be finished"
            raise BundleError(f"{why}; {exc}; {self.directory} keeps {self._kept()}") from None
        return summary

    def _kept(self) -> str:
        """What the bundle holds without its summary, in words."""
        try:
            names = sorted(p.name for p in self.directory.iterdir() if not p.name.startswith("."))
        except OSError:
            return "nothing readable"
        hlogs = [n for n in names if n.endswith(HLOG_SUFFIX)]
        kept = [n for n in names if not n.endswith(HLOG_SUFFIX)]
        if hlogs:
            kept.append(f"{len(hlogs)} interval logs (.hlog)")
        if not kept:
            return "no file"
        return ", ".join(kept) + " (`rtbench report` rebuilds a partial summary from them)"

    def record(self, inputs: SummaryInputs) -> RunRecord:
        """The run as `build_summary` takes it: the aggregator's per-phase totals, the seconds
        written and what the writer was told."""
        config, agg = self._config, inputs.aggregator
        version = versions()
        return RunRecord(
            rtbench_version=version["rtbench"],
            scenario=config.scenario,
            started_at=inputs.started_at,
            ended_at=inputs.ended_at or time.time(),
            partial_reason=inputs.partial_reason or self._failure,
            phases=cast(Phases, {name: dict(span) for name, span in inputs.phases.items()}),
            include_ramp=config.load.include_ramp,
            config=redacted(config),
            turn_limits_ms=dict(config.turn_limits_ms),
            histograms={phase: agg.totals([phase]) for phase in Phase},
            counters={phase: agg.counters([phase]) for phase in Phase},
            seconds=tuple(self._seconds),
            target_source=inputs.target_source,
            target_idle_rss_bytes=self._idle_rss,
            late_intervals=agg.late_intervals,
            warnings=tuple(self._warnings),
            events=tuple(self._events),
            versions=version,
            pid=os.getpid(),
            processes=self._processes,
        )
