"""A summary rebuilt from what a killed run left: its interval logs, time series, run.json and
events, when it never wrote summary.json.

The figures follow summary.json's schema where the files hold them: latencies from the merged
.hlog intervals (so they are exact over the seconds written), delivery and sessions from the
per-second rows of timeseries.csv. What only the end of a run knows (failure kinds, clamped
values, token-count method, goodput, the saturation verdict) is left out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from rtbench.bundle.sections import build_metrics_section
from rtbench.report.frames import PHASES, Bundle, phase_spans

__all__ = ["rebuild_summary", "with_rebuilt_summary", "REBUILT_FROM"]

REBUILT_FROM = "the interval logs (.hlog) and timeseries.csv"
WHOLE_RUN_METRICS = ("connect",)


def _sum(frame: pd.DataFrame | None, column: str) -> int:
    if frame is None or column not in frame:
        return 0
    return int(frame[column].fillna(0).sum())


def _stat(frame: pd.DataFrame | None, column: str, how: str) -> float | None:
    if frame is None or column not in frame or not frame[column].notna().any():
        return None
    value = getattr(frame[column], how)()
    return round(float(value), 3)


def _phases(frame: pd.DataFrame | None) -> dict[str, dict[str, float | None]]:
    """Each phase's first and end second (epoch) as the time series assigned them."""
    spans = {name: {"start": None, "end": None} for name in PHASES}
    if frame is None:
        return spans
    origin = float(frame["time"].iloc[0] - frame["second"].iloc[0])
    for name, start, end in phase_spans(frame):
        span = spans.setdefault(name, {"start": None, "end": None})
        span["start"] = origin + start if span["start"] is None else span["start"]
        span["end"] = origin + end
    return spans


def _delivery(frame: pd.DataFrame | None) -> dict[str, Any]:
    completed, failed = _sum(frame, "turns_completed"), _sum(frame, "turns_failed")
    ended = completed + failed
    return {
        "turns_sent": _sum(frame, "turns_sent"),
        "turns_completed": completed,
        "turns_failed": failed,
        "delivery_ratio": round(completed / ended, 6) if ended else None,
    }


def rebuild_summary(bundle: Bundle) -> dict[str, Any]:
    """summary.json's figures as far as `bundle`'s files hold them (see the module's doc)."""
    run: Mapping[str, Any] = bundle.run
    config = run.get("config") if isinstance(run.get("config"), Mapping) else {}
    frame = bundle.timeseries
    include_ramp = bool(config.get("include_ramp", False))
    skeleton = {"include_ramp": include_ramp, "whole_run_metrics": list(WHOLE_RUN_METRICS)}
    # coverage() reads these two keys: the rebuilt figures cover what summary.json's would
    covering = dataclasses.replace(bundle, summary=skeleton)
    metrics = {m: h for m in bundle.metrics() if (h := covering.histogram(m)) is not None}
    last = float(frame["time"].iloc[-1] + 1) if frame is not None else None
    started = run.get("started_at", float(frame["time"].iloc[0]) if frame is not None else None)
    lag = metrics.get("client_lag")
    return {
        "rtbench_version": run.get("rtbench_version"),
        "scenario": run.get("scenario"),
        "started_at": started,
        "ended_at": last,
        "partial": True,
        "partial_reason": "killed: the run ended without writing summary.json",
        "phases": _phases(frame),
        **skeleton,
        "metrics": build_metrics_section(metrics),
        "metrics_by_phase": {
            phase: build_metrics_section({m: h for m, by in bundle.histograms.items() if (h := by.get(phase))})
            for phase in PHASES
        },
        "counters": {c: _sum(frame, c) for c in ("turns_sent", "turns_completed", "turns_failed", "tokens")},
        "delivery": _delivery(frame),
        "sessions": {"peak": int(_stat(frame, "sessions", "max") or 0)},
        "self_check": {
            "client_cpu_max": _stat(frame, "client_cpu", "max"),
            "client_cpu_mean": _stat(frame, "client_cpu", "mean"),
            "client_lag_p99_ms": build_metrics_section({"client_lag": lag})["client_lag"]["p99"] if lag else None,
            "client_rss_mb_max": _stat(frame, "client_rss_mb", "max"),
            "message": f"rebuilt from {REBUILT_FROM}: saturation not judged",
        },
        "target": {
            "rss_mb_max": _stat(frame, "target_rss_mb", "max"),
            "cpu_percent_max": _stat(frame, "target_cpu", "max"),
            "cpu_percent_mean": _stat(frame, "target_cpu", "mean"),
            "sessions_max": _stat(frame, "target_sessions", "max"),
        },
        "config": dict(config),
        "versions": run.get("versions", {}),
        "warnings": [f"summary.json is missing: these figures were rebuilt from {REBUILT_FROM}"],
        "events": [e.to_dict() for e in bundle.events],
        "pid": run.get("pid"),
    }


def with_rebuilt_summary(bundle: Bundle) -> Bundle:
    """`bundle` itself when it has summary.json, else a copy whose summary is rebuilt."""
    if bundle.summary or not (bundle.histograms or bundle.timeseries is not None):
        return bundle
    return dataclasses.replace(bundle, summary=rebuild_summary(bundle), rebuilt=True)
