"""The report's "Bytes on the wire" section, from summary.json `wire` (SCHEMA.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtbench.bundle.ratios import BANDWIDTH_SAVING, CONNECTION_REUSE
from rtbench.bundle.summary_types import Summary
from rtbench.report.page import note, pairs_table, paragraph, section
from rtbench.slo.format import format_number

__all__ = ["wire_section"]

_COMPRESSION = {
    "deflate": "permessage-deflate on every WebSocket connection",
    "partial": "permessage-deflate on some WebSocket connections: the server declined it on the others",
    "none": "none (not offered, or declined by the server)",
}


def _number(value: Any, decimals: int = 0) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return format_number(float(value), decimals)


def _percent(value: Any) -> str:
    return "-" if isinstance(value, bool) or not isinstance(value, (int, float)) else f"{value * 100:.1f}%"


def wire_section(summary: Summary | None) -> str | None:
    """Compression, WebSocket bytes on the wire against payload both ways, and HTTP requests per
    connection; None for a summary without the section (an older bundle, a killed run's)."""
    wire: Mapping[str, Any] | None = summary.get("wire") if summary is not None else None
    if not isinstance(wire, Mapping):
        return None
    compression = str(wire.get("compression"))

    def pair(key: str) -> str:
        return f"{_number(wire.get(f'bytes_{key}_wire'))} / {_number(wire.get(f'bytes_{key}_payload'))}"

    rows = [
        ("compression", _COMPRESSION.get(compression, compression)),
        ("received: wire / payload bytes", pair("in")),
        ("sent: wire / payload bytes", pair("out")),
        ("bandwidth_saving", _percent(wire.get("bandwidth_saving"))),
        ("requests_per_connection", _number(wire.get("requests_per_connection"), 3)),
        ("connection_reuse", _percent(wire.get("connection_reuse"))),
    ]
    parts = [
        paragraph(
            "Over the reported phases, as the latencies. WebSocket frames are counted as on the wire (headers,"
            " masks and control frames included) against the messages' payloads before deflate."
        ),
        pairs_table(rows, ("figure", "value")),
        note(f"bandwidth_saving: {BANDWIDTH_SAVING}. connection_reuse: {CONNECTION_REUSE}."),
    ]
    return section("wire", "Bytes on the wire", parts)
