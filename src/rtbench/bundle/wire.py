"""summary.json `wire`: bytes on the wire against payload bytes, and HTTP connection reuse.

Built from the counters of the reported phases (`rtbench.metrics.names.WIRE_COUNTERS`, which the
transports count): WebSocket frames as on the wire against message payloads, both ways, with
`bandwidth_saving` (`rtbench.bundle.ratios.BANDWIDTH_SAVING`); HTTP requests per connection
opened, with `connection_reuse` (`CONNECTION_REUSE`). `compression` says whether the server
accepted permessage-deflate on the connections that offered it, over the whole run (connections
are made in the ramp).
"""

from __future__ import annotations

from collections.abc import Mapping

from rtbench.bundle.ratios import RATIO_PLACES, bandwidth_saving, connection_reuse
from rtbench.bundle.summary_types import WireCompression, WireSection

__all__ = ["build_wire_section", "wire_compression", "declined_warning"]


def wire_compression(counters: Mapping[str, int]) -> WireCompression:
    """ "deflate" when the server accepted permessage-deflate on every connection that offered it,
    "partial" when on some, "none" when on none (or when none offered it)."""
    accepted, declined = counters.get("ws_deflate_negotiated", 0), counters.get("ws_deflate_declined", 0)
    if not accepted:
        return "none"
    return "partial" if declined else "deflate"


def build_wire_section(counters: Mapping[str, int], whole_run: Mapping[str, int] | None = None) -> WireSection:
    """The `wire` section from the counters of the reported phases (`compression` from those of
    `whole_run`, every phase, when given)."""
    wire_in, wire_out = counters.get("ws_wire_bytes_in", 0), counters.get("ws_wire_bytes_out", 0)
    payload_in, payload_out = counters.get("ws_payload_bytes_in", 0), counters.get("ws_payload_bytes_out", 0)
    opened, requests = counters.get("http_connections_opened", 0), counters.get("http_requests", 0)
    return {
        "compression": wire_compression(counters if whole_run is None else whole_run),
        "bytes_in_wire": wire_in,
        "bytes_in_payload": payload_in,
        "bytes_out_wire": wire_out,
        "bytes_out_payload": payload_out,
        "bandwidth_saving": bandwidth_saving(wire_in + wire_out, payload_in + payload_out),
        "requests_per_connection": round(requests / opened, RATIO_PLACES) if opened and requests else None,
        "connection_reuse": connection_reuse(opened, requests),
    }


def declined_warning(counters: Mapping[str, int]) -> str | None:
    """A warning when the server declined the permessage-deflate offered (over the whole run)."""
    declined = counters.get("ws_deflate_declined", 0)
    if not declined:
        return None
    offered = declined + counters.get("ws_deflate_negotiated", 0)
    return (
        f"compression: the server declined permessage-deflate on {declined:,} of {offered:,} WebSocket"
        " connections; those ran uncompressed"
    )
