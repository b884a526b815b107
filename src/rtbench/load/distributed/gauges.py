"""The master's view of the load processes: its own gauges merged with its workers' latest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rtbench.load.starvation import worst

__all__ = ["SUMMED", "merge_gauges"]

#: Gauges that add up over the load processes.
SUMMED = ("sessions", "users_started", "in_flight", "client_rss_bytes", "client_rss_idle_bytes", "trace_pending")


def merge_gauges(own: Mapping[str, Any], workers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """`own` (the master's gauges) with every worker's: counts summed; client CPU, wait for a core
    and machine CPU of the worst process (each load process is bound to one core, so the busiest
    decides saturation, and the master, which times no turn, is left out of the wait); the first
    protocol mismatch any process saw."""
    workers = list(workers)
    merged = dict(own)
    for key in SUMMED:
        merged[key] = own.get(key, 0) + sum(w.get(key, 0) for w in workers)
    merged["client_cpu"] = max([own.get("client_cpu", 0.0)] + [w.get("client_cpu", 0.0) for w in workers])
    for key in ("client_runq_ms", "client_runq_delay_ms"):
        merged[key] = worst(w.get(key) for w in workers)
    merged["machine_cpu"] = worst([own.get("machine_cpu"), *(w.get("machine_cpu") for w in workers)])
    merged["config_error"] = own.get("config_error") or next(
        (w["config_error"] for w in workers if w.get("config_error")), None
    )
    return merged
