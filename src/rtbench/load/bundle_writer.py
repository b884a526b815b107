"""Write a run's bundle as it goes: interval logs and time series each second, the summary at the end."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path
from typing import Any

from rtbench.bundle.events import Event, EventLog
from rtbench.bundle.hlog import IntervalLogWriter
from rtbench.bundle.paths import EVENTS_FILE, RUN_FILE
from rtbench.bundle.sections import build_delivery_section, build_metrics_section, token_count_method
from rtbench.bundle.summary import SCHEMA_VERSION, write_summary
from rtbench.bundle.timeseries import TimeseriesWriter
from rtbench.config import RunConfig, redacted
from rtbench.load.versions import versions
from rtbench.metrics.aggregate import Aggregator, ClosedSecond
from rtbench.metrics.names import FAILURE_KINDS, failure_counter
from rtbench.metrics.phases import Phase

__all__ = ["BundleWriter", "TIMESERIES_COLUMNS"]

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
    "client_rss_mb",
    "target_rss_mb",
    "target_cpu",
    "target_sessions",
)
WHOLE_RUN_METRICS = frozenset({"connect", "recovery"})
ROW_PERCENTILES = (50.0, 95.0, 99.0)
SATURATION_CPU_PERCENT = 85.0
SATURATION_LAG_P99_MS = 10.0


def _mb(value: float | None) -> float | None:
    return round(value / 2**20, 3) if value is not None else None


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
        self._rows: list[dict[str, Any]] = []
        self._warnings: list[str] = []
        self._idle_rss: float | None = None
        self._start = 0.0
        self._events: list[Event] = []
        self._event_log: EventLog | None = None

    def open(self, start: float) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._start = start
        self._timeseries = TimeseriesWriter(self.directory / "timeseries.csv", TIMESERIES_COLUMNS)
        self._event_log = EventLog(self.directory / EVENTS_FILE)
        # what a run killed before its summary still tells about itself (SCHEMA.md: run.json)
        write_summary(
            self.directory / RUN_FILE,
            {
                "rtbench_version": versions()["rtbench"],
                "scenario": self._config.scenario,
                "started_at": start,
                "config": redacted(self._config),
                "versions": versions(),
                "pid": os.getpid(),
            },
        )

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events recorded so far, as summary.json lists them."""
        return [e.to_dict() for e in self._events]

    def event(self, kind: str, detail: str, t: float | None = None) -> None:
        """Record an event (events.jsonl at once, summary.json's `events` at the end)."""
        event = Event(time.time() if t is None else t, kind, detail)
        self._events.append(event)
        if self._event_log is not None:
            self._event_log.write(event)

    def warn(self, message: str) -> None:
        self._warnings.append(message)

    def write_text(self, name: str, text: str) -> None:
        (self.directory / name).write_text(text, encoding="utf-8")

    def note_idle_target(self, sample: Any) -> None:
        """The target's RSS before any session: the baseline for RSS per session."""
        if sample is not None and sample.rss_bytes is not None:
            self._idle_rss = sample.rss_bytes

    def write_second(self, closed: ClosedSecond, gauges: dict[str, Any]) -> None:
        for metric, histogram in closed.histograms.items():
            log = self._hlogs.get(metric)
            if log is None:
                log = self._hlogs[metric] = IntervalLogWriter(self.directory / f"{metric}.hlog", self._start)
            log.write(closed.second, histogram)
        c = closed.counters
        ttft, e2e, itl, lag = (_percentiles_ms(closed, m) for m in ("ttft", "e2e", "itl", "client_lag"))
        rss = gauges.get("target_rss_bytes")
        row = {
            "time": closed.second,
            "second": closed.second - int(self._start),
            "phase": closed.phase.value,
            "users": gauges.get("users"),
            "sessions": gauges.get("sessions"),
            "in_flight": gauges.get("in_flight"),
            "turns_sent": c.get("turns_sent", 0),
            "turns_completed": c.get("turns_completed", 0),
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
            "client_cpu": gauges.get("client_cpu"),
            "client_lag_p99_ms": lag[99.0],
            "client_rss_mb": _mb(gauges.get("client_rss_bytes")),
            "target_rss_mb": _mb(rss),
            "target_cpu": gauges.get("target_cpu"),
            "target_sessions": gauges.get("target_sessions"),
        }
        assert self._timeseries is not None
        self._timeseries.write(row)
        row["client_rss_idle_mb"] = _mb(gauges.get("client_rss_idle_bytes"))
        self._rows.append(row)

    # -- the summary ------------------------------------------------------------------------

    def finish(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Close the logs and write `summary.json` atomically. Returns the summary."""
        for log in self._hlogs.values():
            log.close()
        if self._timeseries is not None:
            self._timeseries.close()
        if self._event_log is not None:
            self._event_log.close()
        summary = self._summary(inputs)
        self.directory.mkdir(parents=True, exist_ok=True)
        write_summary(self.directory / "summary.json", summary)
        return summary

    def _summary(self, inputs: dict[str, Any]) -> dict[str, Any]:
        config = self._config
        agg: Aggregator = inputs["aggregator"]
        partial_reason: str | None = inputs["partial_reason"]
        all_phases = [Phase.RAMP, Phase.STEADY, Phase.STOP]
        reported = all_phases if config.load.include_ramp else [Phase.STEADY]
        metrics = agg.totals(reported)
        # Connecting happens in the ramp by nature: its figures always cover the whole run.
        for name, histogram in agg.totals(all_phases).items():
            if name in WHOLE_RUN_METRICS:
                metrics[name] = histogram
        counters = agg.counters(all_phases)
        connects = counters.get("connect_ok", 0) + counters.get("connect_failed", 0)
        steady_rows = [r for r in self._rows if r["phase"] == Phase.STEADY.value] or self._rows
        self_check = self._self_check(agg, steady_rows)
        clamped = agg.clamped(all_phases)
        if any(clamped.values()):
            self.warn(f"values below 0 or above 1 h were clamped into range: {clamped}")
        if agg.late_intervals:
            self.warn(
                f"{agg.late_intervals} intervals arrived after their second was written; "
                "they are in the totals but not in the .hlog files"
            )
        return {
            "schema_version": SCHEMA_VERSION,
            "rtbench_version": versions()["rtbench"],
            "scenario": config.scenario,
            "started_at": inputs["started_at"],
            "ended_at": inputs["ended_at"] or time.time(),
            "partial": partial_reason is not None,
            "partial_reason": partial_reason,
            "phases": inputs["phases"],
            "include_ramp": config.load.include_ramp,
            "metrics": build_metrics_section(metrics),
            "whole_run_metrics": sorted(WHOLE_RUN_METRICS),
            "metrics_by_phase": {p.value: build_metrics_section(agg.totals([p])) for p in all_phases},
            "clamped": clamped,
            "counters": counters,
            "delivery": {
                **build_delivery_section(counters),
                "connects": connects,
                "connect_failed": counters.get("connect_failed", 0),
                "connect_failed_by_kind": {
                    name.removeprefix("connect_failed_"): n
                    for name, n in sorted(counters.items())
                    if name.startswith("connect_failed_") and n
                },
                "connect_success_ratio": round(counters.get("connect_ok", 0) / connects, 6) if connects else None,
            },
            "token_count_method": token_count_method(counters),
            "goodput": self._goodput(agg.counters(reported), inputs["phases"], reported),
            "sessions": {"peak": max((r["sessions"] or 0 for r in self._rows), default=0)},
            "self_check": self_check,
            "target": self._target_section(steady_rows, inputs["target_source"]),
            "config": redacted(config),
            "versions": versions(),
            "warnings": self._warnings + ([self_check["message"]] if self_check["saturated"] else []),
            "events": self.events,
            "pid": os.getpid(),
        }

    def _goodput(self, counters: dict[str, int], spans: dict[str, Any], phases: list[Phase]) -> dict[str, Any]:
        """Turns that met every per-turn limit, per second of the reported phases."""
        limits = dict(self._config.turn_limits_ms)
        seconds = sum(
            spans[p.value]["end"] - spans[p.value]["start"]
            for p in phases
            if spans[p.value]["start"] is not None and spans[p.value]["end"] is not None
        )
        good, completed = counters.get("turns_good", 0), counters.get("turns_completed", 0)
        # counted when turns end, like `good`: a turn sent in the ramp may end in the steady state
        ended = completed + sum(counters.get(failure_counter(kind), 0) for kind in FAILURE_KINDS)
        if not limits:
            return {"limits_ms": {}, "turns_good": None, "per_s": None, "ratio": None}
        return {
            "limits_ms": limits,
            "turns_good": good,
            "per_s": round(good / seconds, 3) if seconds > 0 else None,
            "ratio": round(good / ended, 6) if ended > 0 else None,
            "turns_completed": completed,
        }

    @staticmethod
    def _self_check(agg: Aggregator, rows: list[dict[str, Any]]) -> dict[str, Any]:
        cpus = [r["client_cpu"] for r in rows if r["client_cpu"] is not None]
        lag = agg.totals([Phase.STEADY]).get("client_lag")
        lag_p99 = round(lag.percentiles([99.0])[99.0] / 1000.0, 3) if lag is not None and lag.total_count else None
        cpu_mean = round(statistics.fmean(cpus), 1) if cpus else None
        rss = [r["client_rss_mb"] for r in rows if r["client_rss_mb"] is not None]
        per_session = [
            (r["client_rss_mb"] - r["client_rss_idle_mb"]) * 1024 / r["sessions"]
            for r in rows
            if r["client_rss_mb"] is not None and r["client_rss_idle_mb"] and r["sessions"]
        ]
        saturated = (cpu_mean is not None and cpu_mean > SATURATION_CPU_PERCENT) or (
            lag_p99 is not None and lag_p99 > SATURATION_LAG_P99_MS
        )
        return {
            "client_cpu_max": max(cpus) if cpus else None,
            "client_cpu_mean": cpu_mean,
            "client_lag_p99_ms": lag_p99,
            "client_rss_mb_max": max(rss) if rss else None,
            "client_rss_per_session_kb": round(statistics.median(per_session), 3) if per_session else None,
            "saturated": saturated,
            "message": "client saturated: latencies inflated" if saturated else "client not saturated",
            "thresholds": {"cpu_percent": SATURATION_CPU_PERCENT, "lag_p99_ms": SATURATION_LAG_P99_MS},
        }

    def _target_section(self, rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
        rss = [r["target_rss_mb"] for r in rows if r["target_rss_mb"] is not None]
        cpu = [r["target_cpu"] for r in rows if r["target_cpu"] is not None]
        per_session = [
            (r["target_rss_mb"] * 2**20 - self._idle_rss) / r["sessions"] / 1024
            for r in rows
            if r["target_rss_mb"] is not None and self._idle_rss is not None and r["sessions"]
        ]
        return {
            "source": source,
            "rss_mb_idle": round(self._idle_rss / 2**20, 3) if self._idle_rss is not None else None,
            "rss_mb_max": max(rss) if rss else None,
            "rss_per_session_kb": round(statistics.median(per_session), 3) if per_session else None,
            "cpu_percent_max": max(cpu) if cpu else None,
            "cpu_percent_mean": round(statistics.fmean(cpu), 1) if cpu else None,
            "sessions_max": max((r["target_sessions"] for r in rows if r["target_sessions"] is not None), default=None),
        }
