"""Did a run do any work? A run in which no session connected, or no turn completed, measured
nothing, and the gate says so (exit 3) whether it has SLOs or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtbench.bundle.summary_types import Summary

__all__ = ["no_work"]


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _by_kind(counts: Any) -> str:
    if not isinstance(counts, Mapping):
        return ""
    return ", ".join(f"{kind} {_count(n):,}" for kind, n in counts.items() if _count(n))


def no_work(summary: Summary) -> str | None:
    """One line when the run did no work ("no session connected: ...", "no turn completed: ..."),
    else None (also for a summary without a delivery count, which says nothing either way)."""
    delivery = summary.get("delivery")
    if not isinstance(delivery, Mapping) or "turns_completed" not in delivery:
        return None
    if _count(delivery.get("turns_completed")):
        return None
    counters: Mapping[str, Any] = summary.get("counters") or {}
    peak = _count((summary.get("sessions") or {}).get("peak"))
    if not peak and not _count(counters.get("connect_ok")):
        attempts = _count(delivery.get("connect_failed")) or _count(counters.get("connect_failed"))
        kinds = _by_kind(delivery.get("connect_failed_by_kind"))
        return f"no session connected: {attempts:,} connection attempts failed" + (f" ({kinds})" if kinds else "")
    sent = _count(delivery.get("turns_sent"))
    if not sent:
        return "no turn completed: none was sent"
    kinds = _by_kind(delivery.get("failed"))
    return f"no turn completed of {sent:,} sent" + (f" (failed: {kinds})" if kinds else "")
