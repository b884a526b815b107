"""summary.json `wire`: bytes on the wire against payload bytes, HTTP connection reuse, and what
compression the connections ran with; built from the reported phases' counters only."""

from __future__ import annotations

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord, SecondSample
from rtbench.bundle.wire import build_wire_section, declined_warning
from rtbench.metrics.phases import Phase

DEFLATED = {
    "ws_wire_bytes_in": 1_500,
    "ws_payload_bytes_in": 9_000,
    "ws_wire_bytes_out": 500,
    "ws_payload_bytes_out": 1_000,
    "ws_deflate_negotiated": 4,
}


def test_bandwidth_saving_is_one_minus_wire_over_payload_both_ways() -> None:
    wire = build_wire_section(DEFLATED)
    assert wire == {
        "compression": "deflate",
        "bytes_in_wire": 1_500,
        "bytes_in_payload": 9_000,
        "bytes_out_wire": 500,
        "bytes_out_payload": 1_000,
        "bandwidth_saving": 0.8,  # 1 - 2,000 / 10,000
        "requests_per_connection": None,
        "connection_reuse": None,
    }


def test_uncompressed_frames_save_nothing_and_say_so() -> None:
    wire = build_wire_section({"ws_wire_bytes_in": 1_060, "ws_payload_bytes_in": 1_000})
    assert wire["compression"] == "none" and wire["bandwidth_saving"] == -0.06
    assert build_wire_section({})["bandwidth_saving"] is None


def test_connection_reuse_is_one_minus_connections_over_requests() -> None:
    wire = build_wire_section({"http_connections_opened": 3, "http_requests": 40})
    assert wire["requests_per_connection"] == 13.333333 and wire["connection_reuse"] == 0.925
    assert build_wire_section({"http_connections_opened": 5, "http_requests": 5})["connection_reuse"] == 0.0


def test_a_declined_offer_is_partial_and_warned() -> None:
    counters = {**DEFLATED, "ws_deflate_declined": 1}
    assert build_wire_section(counters)["compression"] == "partial"
    assert build_wire_section({"ws_deflate_declined": 2})["compression"] == "none"
    assert declined_warning(counters) == (
        "compression: the server declined permessage-deflate on 1 of 5 WebSocket connections; those ran uncompressed"
    )
    assert declined_warning(DEFLATED) is None


def record(counters: dict[Phase, dict[str, int]]) -> RunRecord:
    spans = {
        "ramp": {"start": 0.0, "end": 1.0},
        "steady": {"start": 1.0, "end": 9.0},
        "stop": {"start": 9.0, "end": 10.0},
    }
    return RunRecord(
        rtbench_version="0",
        scenario="wire",
        started_at=0.0,
        ended_at=10.0,
        partial_reason=None,
        phases=spans,  # type: ignore[arg-type]
        include_ramp=False,
        config={},
        turn_limits_ms={},
        histograms={},
        counters=counters,
        seconds=[SecondSample(Phase.STEADY)],
    )


def test_the_summary_covers_the_reported_phases_and_warns_of_declines_over_all() -> None:
    steady = {name: n for name, n in DEFLATED.items() if name != "ws_deflate_negotiated"}
    ramp = {"ws_wire_bytes_in": 999, "ws_deflate_declined": 1, "ws_deflate_negotiated": 4}
    summary = build_summary(record({Phase.RAMP: ramp, Phase.STEADY: steady}))
    assert summary["wire"]["bytes_in_wire"] == 1_500  # the steady state's bytes
    assert summary["wire"]["compression"] == "partial"  # the connections, made in the ramp
    assert summary["counters"]["ws_wire_bytes_in"] == 2_499  # counters cover every phase
    assert any("declined permessage-deflate on 1 of 5" in w for w in summary["warnings"])
