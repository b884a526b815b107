"""A summary rebuilt from what a killed run left: its interval logs, time series, run.json and
events, when it never wrote summary.json.

The files become a `RunRecord` and `rtbench.bundle.builder.build_summary` makes the summary, so
each figure has the definition it has in a live run's summary.json: latencies from the merged
.hlog intervals (exact over the seconds written), turns and sessions from the per-second rows of
timeseries.csv, the self-check (its untrusted seconds included) and the target's resources from
the same rows. What only the end of a run knows (failure kinds, session and connect counters,
clamped values, the token-count method, goodput, the client's and the target's idle RSS) is left
out or null.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, cast

import pandas as pd

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import TARGET_SERVER_COLUMNS, TIMESERIES_COUNTERS, RunRecord, SecondSample
from rtbench.bundle.summary_types import Phases, PhaseSpan, Summary
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.phases import Phase
from rtbench.report.frames import PHASES, Bundle, phase_spans

__all__ = ["rebuild_summary", "rebuilt_record", "with_rebuilt_summary", "REBUILT_FROM", "KILLED"]

REBUILT_FROM = "the interval logs (.hlog) and timeseries.csv"
KILLED = "killed: the run ended without writing summary.json"


def _sum(frame: pd.DataFrame | None, column: str) -> int:
    if frame is None or column not in frame:
        return 0
    return int(frame[column].fillna(0).sum())


def _phases(frame: pd.DataFrame | None) -> Phases:
    """Each phase's first and end second (epoch) as the time series assigned them."""
    spans: dict[str, PhaseSpan] = {name: {"start": None, "end": None} for name in PHASES}
    if frame is None:
        return cast(Phases, spans)
    origin = float(frame["time"].iloc[0] - frame["second"].iloc[0])
    for name, start, end in phase_spans(frame):
        span = spans.setdefault(name, {"start": None, "end": None})
        span["start"] = origin + start if span["start"] is None else span["start"]
        span["end"] = origin + end
    return cast(Phases, spans)


def _number(row: Mapping[str, Any], column: str) -> float | None:
    value = row.get(column)
    if value is None or isinstance(value, str) or math.isnan(float(value)):
        return None
    return float(value)


def _whole(row: Mapping[str, Any], column: str) -> int | None:
    value = _number(row, column)
    return None if value is None else int(value)


def _seconds(frame: pd.DataFrame | None) -> tuple[SecondSample, ...]:
    """The gauges of each row (rows of an unknown phase left out)."""
    if frame is None:
        return ()
    known = {p.value for p in Phase}
    return tuple(
        SecondSample(
            phase=Phase(row["phase"]),
            second=_whole(row, "second"),
            sessions=_whole(row, "sessions"),
            users=_whole(row, "users"),
            turns_completed=_whole(row, "turns_completed") or 0,
            client_cpu=_number(row, "client_cpu"),
            client_lag_max_ms=_number(row, "client_lag_max_ms"),
            client_runq_ms=_number(row, "client_runq_ms"),
            client_runq_delay_ms=_number(row, "client_runq_delay_ms"),
            machine_cpu=_number(row, "machine_cpu"),
            client_rss_mb=_number(row, "client_rss_mb"),
            target_rss_mb=_number(row, "target_rss_mb"),
            target_cpu=_number(row, "target_cpu"),
            target_sessions=_whole(row, "target_sessions"),
            **{column: _number(row, column) for column in TARGET_SERVER_COLUMNS},
        )
        for row in frame.to_dict("records")
        if row.get("phase") in known
    )


def _counters(frame: pd.DataFrame | None) -> dict[Phase, dict[str, int]]:
    if frame is None:
        return {}
    return {
        phase: {name: _sum(frame[frame["phase"] == phase.value], name) for name in TIMESERIES_COUNTERS}
        for phase in Phase
        if (frame["phase"] == phase.value).any()
    }


def _histograms(bundle: Bundle) -> dict[Phase, dict[str, LatencyHistogram]]:
    by_phase: dict[Phase, dict[str, LatencyHistogram]] = {}
    for metric, phases in bundle.histograms.items():
        for phase, histogram in phases.items():
            by_phase.setdefault(Phase(phase), {})[metric] = histogram
    return by_phase


def _warnings(bundle: Bundle) -> tuple[str, ...]:
    if bundle.stale_summary:
        return (
            "summary.json belongs to an earlier run than the other files (its start differs from run.json's):"
            f" it was set aside, and these figures were rebuilt from {REBUILT_FROM}",
        )
    return (f"summary.json is missing: these figures were rebuilt from {REBUILT_FROM}",)


def rebuilt_record(bundle: Bundle) -> RunRecord:
    """The run as far as `bundle`'s files hold it (see the module's doc)."""
    run: Mapping[str, Any] = bundle.run
    config_value = run.get("config")
    config: Mapping[str, Any] = config_value if isinstance(config_value, Mapping) else {}
    frame = bundle.timeseries
    started = run.get("started_at", float(frame["time"].iloc[0]) if frame is not None else None)
    versions = run.get("versions")
    return RunRecord(
        rtbench_version=run.get("rtbench_version"),
        scenario=run.get("scenario"),
        started_at=started,
        ended_at=float(frame["time"].iloc[-1] + 1) if frame is not None else None,
        partial_reason=KILLED,
        phases=_phases(frame),
        include_ramp=bool(config.get("include_ramp", False)),
        config=config,
        turn_limits_ms={},
        histograms=_histograms(bundle),
        counters=_counters(frame),
        seconds=_seconds(frame),
        warnings=_warnings(bundle),
        events=bundle.events,
        versions=versions if isinstance(versions, Mapping) else {},
        pid=run.get("pid"),
        complete=False,
        failed_turns=_sum(frame, "turns_failed"),
    )


def rebuild_summary(bundle: Bundle) -> Summary:
    """summary.json's figures as far as `bundle`'s files hold them (see the module's doc)."""
    return build_summary(rebuilt_record(bundle))


def with_rebuilt_summary(bundle: Bundle) -> Bundle:
    """`bundle` itself when it has summary.json, else a copy whose summary is rebuilt."""
    if bundle.summary is not None or not (bundle.histograms or bundle.timeseries is not None):
        return bundle
    return dataclasses.replace(bundle, summary=rebuild_summary(bundle), rebuilt=True)
