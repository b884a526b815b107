from __future__ import annotations

from rtbench.metrics.names import (
    COUNTERS,
    FAILURE_KINDS,
    LATENCY_METRICS,
    SESSION_COUNTERS,
    SESSION_RATIOS,
    TURN_METRICS,
    error_frame_counter,
    failure_counter,
    token_method_counter,
)


def test_every_metric_has_a_one_line_definition() -> None:
    expected = {"connect", "ttft", "itl", "tpot", "e2e", "persona_switch", "recovery", "client_lag"}
    assert set(LATENCY_METRICS) == expected
    assert all(d and "\n" not in d for d in LATENCY_METRICS.values())
    assert set(TURN_METRICS) <= set(LATENCY_METRICS)


def test_counter_names_are_derived_consistently() -> None:
    for kind in FAILURE_KINDS:
        assert failure_counter(kind) in COUNTERS
    for method in ("usage", "frames"):
        assert token_method_counter(method) in COUNTERS
    assert failure_counter("seq_gap") == "failed_seq_gap"


def test_session_counters_are_reported_with_one_line_definitions() -> None:
    assert set(SESSION_COUNTERS) <= set(COUNTERS)
    assert {"session_drops", "resumes_ok", "sessions_started", "sessions_lost", "session_us", "downtime_us"} <= set(
        SESSION_COUNTERS
    )
    assert set(SESSION_RATIOS) == {"uptime", "continuity"}
    assert all(d and "\n" not in d for d in [*SESSION_COUNTERS.values(), *SESSION_RATIOS.values()])
    assert error_frame_counter("seq_gap") == "error_frame_seq_gap"
