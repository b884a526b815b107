"""A snapshot of a run in progress, for the live console display."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtbench.config import RunConfig
from rtbench.metrics.aggregate import ClosedSecond
from rtbench.metrics.names import FAILURE_KINDS, failure_counter

__all__ = ["LiveStatus", "live_status"]

FAILURE_COUNTERS = (*(failure_counter(kind) for kind in FAILURE_KINDS), "connect_failed")


@dataclass(frozen=True)
class LiveStatus:
    """What the console shows each second. Latencies in ms; None before the first data."""

    elapsed_s: float
    phase: str
    users: int
    target_users: int
    sessions: int
    turns_per_s: float
    tokens_per_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    errors: int
    client_cpu: float
    client_lag_p99_ms: float | None


def live_status(elapsed_s: float, gauges: dict[str, Any], last: ClosedSecond | None, config: RunConfig) -> LiveStatus:
    """Combine the newest closed second with the current gauges."""
    counters = last.counters if last else {}
    ttft = last.histograms.get("ttft") if last else None
    lag = last.histograms.get("client_lag") if last else None
    ttft_p = ttft.percentiles([50.0, 95.0]) if ttft is not None and ttft.total_count else {}
    lag_p = lag.percentiles([99.0]) if lag is not None and lag.total_count else {}
    return LiveStatus(
        elapsed_s=elapsed_s,
        phase=gauges.get("phase", ""),
        users=int(gauges.get("users", 0)),
        target_users=config.load.users,
        sessions=int(gauges.get("sessions", 0)),
        turns_per_s=float(counters.get("turns_completed", 0)),
        tokens_per_s=float(counters.get("tokens", 0)),
        ttft_p50_ms=ttft_p[50.0] / 1000 if ttft_p else None,
        ttft_p95_ms=ttft_p[95.0] / 1000 if ttft_p else None,
        errors=sum(int(counters.get(name, 0)) for name in FAILURE_COUNTERS),
        client_cpu=float(gauges.get("client_cpu", 0.0)),
        client_lag_p99_ms=lag_p[99.0] / 1000 if lag_p else None,
    )
