"""Where each SLO name's value lives in a summary, and the derived success ratio."""

from __future__ import annotations

from typing import Any

import pytest

from rtbench.metrics.names import LATENCY_METRICS
from rtbench.slo.evaluate import evaluate_rule
from rtbench.slo.indicators import INDICATORS, RATE_PATHS, success_ratio
from rtbench.slo.spec import parse_slo_table
from rtbench.slo.units import DURATION, RATIO


def test_every_latency_metric_and_rate_is_an_indicator() -> None:
    for name in LATENCY_METRICS:
        assert INDICATORS[name].dimension is DURATION and INDICATORS[name].takes_statistic
    for name in (*RATE_PATHS, "success"):
        assert INDICATORS[name].dimension is RATIO and not INDICATORS[name].takes_statistic


@pytest.mark.parametrize(
    ("name", "statistic", "expected"),
    [
        ("ttft", "p95", 54.0),
        ("ttft", "p99.9", 66.0),
        ("ttft", "mean", 51.0),
        ("e2e", "max", 260.0),
        ("delivery", None, 0.9995),
        ("connect_success", None, 0.998),
        ("goodput_ratio", None, 0.990495),
        ("goodput", None, 99.0),
        ("sessions_peak", None, 1000.0),
        ("server_rss_per_session", None, 51.2),
        ("server_cpu", None, 45.0),
    ],
)
def test_measure_reads_the_summary(summary: dict[str, Any], name: str, statistic: str | None, expected: float) -> None:
    assert INDICATORS[name].measure(summary, statistic) == expected


def test_absent_or_null_is_no_data(summary: dict[str, Any]) -> None:
    assert INDICATORS["recovery"].measure(summary, "p95") is None
    summary["target"]["cpu_percent_mean"] = None
    assert INDICATORS["server_cpu"].measure(summary) is None
    del summary["goodput"]
    assert INDICATORS["goodput"].measure(summary) is None


def test_success_ratio_leaves_out_turns_cancelled_at_stop(summary: dict[str, Any]) -> None:
    assert success_ratio(summary) == pytest.approx(9990 / 9995)
    summary["delivery"].update(turns_sent=4, turns_cancelled=4, turns_completed=0)
    assert success_ratio(summary) is None
    del summary["delivery"]
    assert success_ratio(summary) is None


def test_the_seeds_wire_lines_read_the_wire_section() -> None:
    """bandwidth_saving and connection_reuse are the summary's `wire` ratios; each says why it has
    no data when the run's target is of the other kind."""
    spec = parse_slo_table({"bandwidth_saving": ">= 80%", "connection_reuse": ">= 90%"}, "seed")
    websocket: Any = {"wire": {"bandwidth_saving": 0.81, "connection_reuse": None}}
    http: Any = {"wire": {"bandwidth_saving": None, "connection_reuse": 0.875}}
    results = {
        (rule.name, kind): evaluate_rule(rule, s)
        for rule in spec.rules
        for kind, s in (("ws", websocket), ("http", http))
    }
    assert (
        results[("bandwidth_saving", "ws")].passed and results[("bandwidth_saving", "ws")].measured == 81.0
    )  # percent
    assert not results[("connection_reuse", "http")].passed  # 87.5% < 90%
    assert results[("connection_reuse", "ws")].measured is None
    assert "no HTTP request" in INDICATORS["connection_reuse"].no_data_hint
    assert "no WebSocket message" in INDICATORS["bandwidth_saving"].no_data_hint
