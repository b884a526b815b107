from __future__ import annotations

from rtbench.metrics.names import (
    COUNTERS,
    FAILURE_KINDS,
    LATENCY_METRICS,
    TURN_METRICS,
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
