"""summary.json `trace`: a trace replay's rows, sent, late, skipped and never sent (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtbench.bundle.summary_types import TraceSection

__all__ = ["build_trace_section"]


def build_trace_section(config: Mapping[str, Any], counters: Mapping[str, int]) -> TraceSection | None:
    """The trace section of a run whose `config` names a trace (None otherwise), from its
    counters over every phase."""
    file = config.get("trace_file")
    if not file:
        return None
    rows, sent = counters.get("trace_rows", 0), counters.get("trace_rows_sent", 0)
    return {
        "file": str(file),
        "speed": float(config.get("trace_speed") or 1.0),
        "rows": rows,
        "sent": sent,
        "late": counters.get("trace_rows_late", 0),
        "skipped": counters.get("trace_rows_skipped", 0),
        "unsent": max(0, rows - sent),
    }
