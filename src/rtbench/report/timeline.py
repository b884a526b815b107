"""What happened to the run and when: the partial-run banner, the events list and the event
marks drawn on the time charts."""

from __future__ import annotations

from rtbench.bundle.events import EVENT_KINDS
from rtbench.report.charts import Mark
from rtbench.report.frames import Bundle
from rtbench.report.page import note, paragraph, section, table
from rtbench.report.rebuild import REBUILT_FROM
from rtbench.report.sections import format_time

__all__ = ["event_marks", "events_section", "partial_banner", "EVENTS_TABLE_ID", "BANNER_ID"]

EVENTS_TABLE_ID = "events-table"
BANNER_ID = "partial-banner"


def _origin(bundle: Bundle) -> float | None:
    """The epoch second that the time charts call 0 (the run's first whole second)."""
    frame = bundle.timeseries
    if frame is not None and len(frame):
        return float(frame["time"].iloc[0] - frame["second"].iloc[0])
    started = bundle.summary.get("started_at") if bundle.summary is not None else None
    return float(int(started)) if isinstance(started, (int, float)) else None


def event_marks(bundle: Bundle) -> list[Mark]:
    """Each event as (x on the time charts, kind)."""
    origin = _origin(bundle)
    if origin is None:
        return []
    return [(e.t - origin, e.kind) for e in bundle.events]


def events_section(bundle: Bundle) -> str:
    """The run's events in time order: when, how long after the start, what."""
    if not bundle.events:
        return section(
            "events", "Events", [paragraph("No events: no worker or target crashed and the run was not interrupted.")]
        )
    started = bundle.summary.get("started_at") if bundle.summary is not None else None
    rows = []
    for event in bundle.events:
        offset = f"+{event.t - started:,.3f} s" if isinstance(started, (int, float)) else "-"
        rows.append((format_time(event.t), offset, event.kind, event.detail))
    kinds = sorted({e.kind for e in bundle.events})
    parts = [
        paragraph(
            "Times are when rtbench saw each event (crashes within a second of happening). "
            "The time charts mark them with dashed lines."
        ),
        table(
            ("time", "from run start", "kind", "detail"),
            rows,
            numeric=[False, True, False, False],
            table_id=EVENTS_TABLE_ID,
        ),
        *(note(f"{kind}: {EVENT_KINDS[kind]}") for kind in kinds if kind in EVENT_KINDS),
    ]
    return section("events", "Events", parts)


def partial_banner(bundle: Bundle) -> str:
    """The first line of a partial run's report ("" for a complete one)."""
    if not bundle.partial:
        return ""
    if bundle.rebuilt:
        frame = bundle.timeseries
        text = f"PARTIAL RUN: killed, no summary.json. Every figure below was rebuilt from {REBUILT_FROM}"
        if bundle.stale_summary:
            text = (
                "PARTIAL RUN: killed; the summary.json beside its files was an earlier run's and was set aside."
                f" Every figure below was rebuilt from {REBUILT_FROM}"
            )
        if frame is None:
            text += ": timeseries.csv is missing too, so only the latency figures are known."
        else:
            ended = bundle.summary.get("ended_at") if bundle.summary is not None else None
            text += f": {len(frame)} seconds, up to {format_time(ended)}."
    else:
        text = f"PARTIAL RUN: {bundle.partial_reason}. The figures cover only what was recorded."
    return paragraph(text, "banner", BANNER_ID)
