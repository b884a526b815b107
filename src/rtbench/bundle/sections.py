"""The sections of summary.json that are computed from the metrics layer (see SCHEMA.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.metrics.names import (
    FAILURE_KINDS,
    LATENCY_METRICS,
    error_frame_counter,
    failure_counter,
    token_method_counter,
)

__all__ = [
    "build_metrics_section",
    "build_clamped_section",
    "build_delivery_section",
    "build_recovery_section",
    "token_count_method",
]


def _metric_order(names: Iterable[str]) -> list[str]:
    """Canonical metrics first, in report order, then any others sorted."""
    names = set(names)
    return [m for m in LATENCY_METRICS if m in names] + sorted(names - set(LATENCY_METRICS))


def build_metrics_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, dict[str, Any]]:
    """{metric: {count, min, mean, p50, p90, p95, p99, p99_9, max}} in ms, metrics in order."""
    return {name: summarize_ms(totals[name]) for name in _metric_order(totals)}


def build_clamped_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, int]:
    """{metric: values clamped into the 1 us .. 1 h range}, for every metric with data."""
    return {name: totals[name].clamped for name in _metric_order(totals)}


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def build_delivery_section(counters: Mapping[str, int]) -> dict[str, Any]:
    """{turns_sent, turns_completed, turns_cancelled, failed: {...}, delivery_ratio, then the
    session figures of `build_recovery_section`}.

    delivery_ratio = completed / (completed + failed): turns still in flight when the users were
    stopped (turns_cancelled) count neither way. None when no turn ended.
    """
    completed = counters.get("turns_completed", 0)
    failed = {kind: counters.get(failure_counter(kind), 0) for kind in FAILURE_KINDS}
    ended = completed + sum(failed.values())
    return {
        "turns_sent": counters.get("turns_sent", 0),
        "turns_completed": completed,
        "turns_cancelled": counters.get("turns_cancelled", 0),
        "turns_late": counters.get("turns_late", 0),
        "failed": failed,
        "delivery_ratio": _ratio(completed, ended),
        **build_recovery_section(counters),
    }


def build_recovery_section(counters: Mapping[str, int]) -> dict[str, Any]:
    """Sessions and their recovery after drops (counter definitions: `SESSION_COUNTERS`).

    uptime_ratio = 1 - downtime_us / session_us (None when no WebSocket session was held);
    continuity_ratio = 1 - sessions_lost / sessions_started (None when no session started);
    duplicates and seq_gaps are frames seen twice after a replay and gaps in the sequence.
    """
    session_us, downtime_us = counters.get("session_us", 0), counters.get("downtime_us", 0)
    started, lost = counters.get("sessions_started", 0), counters.get("sessions_lost", 0)
    uptime = _ratio(session_us - downtime_us, session_us)
    return {
        "uptime_ratio": None if uptime is None else max(0.0, uptime),
        "continuity_ratio": _ratio(started - lost, started),
        "duplicates": counters.get("frames_duplicate", 0),
        "seq_gaps": counters.get(error_frame_counter("seq_gap"), 0),
        "recovery": {
            "drops": counters.get("session_drops", 0),
            "resumed": counters.get("resumes_ok", 0),
            "resume_failed": counters.get("resumes_failed", 0),
            "gave_up": counters.get("recovery_gave_up", 0),
            "attempts": counters.get("recovery_attempts", 0),
            "sessions_started": started,
            "sessions_lost": lost,
            "session_s": round(session_us / 1e6, 3),
            "downtime_s": round(downtime_us / 1e6, 3),
        },
    }


def token_count_method(counters: Mapping[str, int]) -> str:
    """How tokens were counted: "usage", "frames", "mixed" (both) or "none" (no completed turn)."""
    used = [m for m in ("usage", "frames") if counters.get(token_method_counter(m), 0)]
    if not used:
        return "none"
    return used[0] if len(used) == 1 else "mixed"
