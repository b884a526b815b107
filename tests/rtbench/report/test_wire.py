"""The report's "Bytes on the wire" section: what compression ran, bytes both ways, the two ratios."""

from __future__ import annotations

from typing import Any

from rtbench.report.wire import wire_section

WIRE = {
    "compression": "deflate",
    "bytes_in_wire": 12_345,
    "bytes_in_payload": 98_765,
    "bytes_out_wire": 1_000,
    "bytes_out_payload": 4_000,
    "bandwidth_saving": 0.871234,
    "requests_per_connection": None,
    "connection_reuse": None,
}


def test_the_section_shows_compression_bytes_and_ratios() -> None:
    html = wire_section({"wire": WIRE})  # type: ignore[typeddict-item]
    assert html is not None and 'id="wire"' in html
    assert "permessage-deflate on every WebSocket connection" in html
    assert "12,345 / 98,765" in html and "1,000 / 4,000" in html and "87.1%" in html
    assert "1 - wire bytes / payload bytes" in html


def test_no_section_without_the_summarys_wire() -> None:
    empty: Any = {}
    assert wire_section(empty) is None and wire_section(None) is None
