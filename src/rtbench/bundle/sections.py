"""The sections of summary.json that are computed from the metrics layer (see SCHEMA.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.metrics.names import (
    FAILURE_KINDS,
    LATENCY_METRICS,
    failure_counter,
    token_method_counter,
)

__all__ = [
    "build_metrics_section",
    "build_clamped_section",
    "build_delivery_section",
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


def build_delivery_section(counters: Mapping[str, int]) -> dict[str, Any]:
    """{turns_sent, turns_completed, turns_cancelled, failed: {...}, delivery_ratio}.

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
        "failed": failed,
        "delivery_ratio": round(completed / ended, 6) if ended else None,
    }


def token_count_method(counters: Mapping[str, int]) -> str:
    """How tokens were counted: "usage", "frames", "mixed" (both) or "none" (no completed turn)."""
    used = [m for m in ("usage", "frames") if counters.get(token_method_counter(m), 0)]
    if not used:
        return "none"
    return used[0] if len(used) == 1 else "mixed"
