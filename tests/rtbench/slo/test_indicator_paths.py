"""Every summary path an SLO indicator reads exists in a summary the one builder makes."""

from __future__ import annotations

from typing import Any

import pytest

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord, SecondSample
from rtbench.errors import ConfigError
from rtbench.metrics.breakdowns import by_input_metric, by_turn_metric
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.metrics.phases import Phase
from rtbench.slo.compare import compare
from rtbench.slo.indicators import INDICATORS, OTHER_PATHS, RATE_PATHS, STATISTICS
from rtbench.slo.spec import parse_slo_table


def _summary(by_turn: bool = False, by_input: bool = False) -> Any:
    histograms = {}
    names = [*LATENCY_METRICS]
    if by_turn:
        names += [by_turn_metric(m, i) for m in ("ttft", "tpot", "e2e") for i in (1, 2, 10)]
    if by_input:
        names += [by_input_metric("ttft", n) for n in (3, 100, 70_000)]
    for metric in names:
        h = LatencyHistogram()
        h.record(1000)
        histograms[metric] = h
    record = RunRecord(
        rtbench_version="0",
        scenario="paths",
        started_at=0.0,
        ended_at=10.0,
        partial_reason=None,
        phases={
            "ramp": {"start": 0.0, "end": 1.0},
            "steady": {"start": 1.0, "end": 9.0},
            "stop": {"start": 9.0, "end": 10.0},
        },
        include_ramp=False,
        config={},
        turn_limits_ms={"ttft": 100.0},
        histograms={Phase.STEADY: histograms},
        counters={
            Phase.STEADY: {
                "turns_sent": 4,
                "turns_completed": 4,
                "turns_good": 4,
                "connect_ok": 2,
                "ws_wire_bytes_in": 200,
                "ws_payload_bytes_in": 1000,
                "http_connections_opened": 1,
                "http_requests": 4,
            }
        },
        seconds=[SecondSample(Phase.STEADY, sessions=2, target_rss_mb=60.0, target_cpu=3.0)],
        target_idle_rss_bytes=50 * 2**20,
    )
    return build_summary(record)


def _at(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        assert isinstance(data, dict) and key in data, path
        data = data[key]
    return data


def test_every_indicator_path_is_a_summary_key() -> None:
    summary = _summary()
    for path, _definition in RATE_PATHS.values():
        _at(summary, path)
    for _dimension, path, _definition, _hint in OTHER_PATHS.values():
        _at(summary, path)
    for metric in LATENCY_METRICS:
        for key in STATISTICS.values():
            _at(summary, ("metrics", metric, key))


def test_every_indicator_measures_a_built_summary() -> None:
    summary = _summary()
    for name, indicator in INDICATORS.items():
        value = indicator.measure(summary, "p95" if indicator.takes_statistic else None)
        if name not in ("uptime", "continuity"):  # no WebSocket session in this record
            assert value is not None, name


def test_by_turn_metrics_are_no_indicator_and_never_compared() -> None:
    """`metrics_by_turn` is for reading: an SLO names the run's metrics (ttft_same_persona among
    them), never a turn index's, and a baseline comparison compares `metrics` only."""
    summary = _summary(by_turn=True)
    assert list(summary["metrics_by_turn"]) == ["1", "2", "10+"]
    assert "ttft_same_persona" in INDICATORS and not any("@" in name for name in INDICATORS)
    compared = {row.metric for row in compare(summary, summary)}
    assert compared and not any("@" in name for name in compared)
    with pytest.raises(ConfigError, match="ttft@3"):
        parse_slo_table({"ttft@3": "p95 < 10ms"}, "slo.toml")


def test_by_input_metrics_are_no_indicator_and_never_compared() -> None:
    """`metrics_by_input_tokens` is for reading too; ttft_answer is a metric an SLO may name."""
    summary = _summary(by_input=True)
    assert list(summary["metrics_by_input_tokens"]) == ["2", "64", "65536+"]
    assert "ttft_answer" in INDICATORS and "ttft_answer" in summary["metrics"]
    compared = {row.metric for row in compare(summary, summary)}
    assert compared and not any("@" in name for name in compared)
    with pytest.raises(ConfigError, match="ttft@in:64"):
        parse_slo_table({"ttft@in:64": "p95 < 10ms"}, "slo.toml")
