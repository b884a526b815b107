"""summary.json `throughput` and `metrics_by_input_tokens`: pure, from RunRecords made by hand."""

from __future__ import annotations

from typing import Any

import pytest

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord, SecondSample
from rtbench.bundle.summary_types import Phases
from rtbench.bundle.throughput import input_token_method, reported_seconds
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.phases import Phase

RAMP, STEADY, STOP = Phase.RAMP, Phase.STEADY, Phase.STOP
#: A run from 100.0 to 113.5: the ramp ends at 102.4 and the stop starts at 110.7, so the steady
#: phase owns seconds 103 to 109 (7 s), the ramp 100 to 102 (3 s) and the stop 110 to 113.5 (3.5 s).
PHASES: Phases = {
    "ramp": {"start": 100.0, "end": 102.4},
    "steady": {"start": 102.4, "end": 110.7},
    "stop": {"start": 110.7, "end": 113.5},
}


def _hist(*values_us: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for value in values_us:
        h.record(value)
    return h


def _record(**fields: Any) -> RunRecord:
    base: dict[str, Any] = {
        "rtbench_version": "0.1.0",
        "scenario": "unit",
        "started_at": 100.0,
        "ended_at": 113.5,
        "partial_reason": None,
        "phases": PHASES,
        "include_ramp": False,
        "config": {},
        "turn_limits_ms": {"ttft": 50.0},
        "histograms": {
            RAMP: {"ttft": _hist(90_000), "ttft@in:64": _hist(90_000)},
            STEADY: {
                "ttft": _hist(10_000, 20_000, 30_000),
                "ttft@in:64": _hist(10_000),
                "ttft@in:1024": _hist(20_000, 30_000),
            },
        },
        "counters": {
            RAMP: {"turns_completed": 5, "tokens": 100, "input_tokens": 500, "input_token_method_usage": 5},
            STEADY: {
                "turns_completed": 70,
                "turns_good": 35,
                "tokens": 1400,
                "input_tokens": 7000,
                "token_count_usage": 70,
                "input_token_method_usage": 70,
            },
            STOP: {"turns_completed": 7, "tokens": 140},
        },
        "seconds": [
            SecondSample(RAMP, users=2),
            SecondSample(STEADY, users=4),
            SecondSample(STEADY, users=6),
            SecondSample(STEADY),
            SecondSample(STOP, users=1),
        ],
    }
    return RunRecord(**{**base, **fields})


def test_reported_seconds_are_the_whole_seconds_the_phases_own() -> None:
    assert reported_seconds(PHASES, 100.0, 113.5, [STEADY]) == 7.0  # not 110.7 - 102.4 = 8.3
    assert reported_seconds(PHASES, 100.0, 113.5, [RAMP]) == 3.0
    assert reported_seconds(PHASES, 100.0, 113.5, [STOP]) == 3.5
    assert reported_seconds(PHASES, 100.0, 113.5, [RAMP, STEADY, STOP]) == 13.5  # the whole run
    assert reported_seconds(PHASES, 100.2, 113.5, [RAMP]) == pytest.approx(2.8)  # clipped to the run
    never_steady: Phases = {**PHASES, "steady": {"start": None, "end": None}}
    assert reported_seconds(never_steady, 100.0, 113.5, [STEADY]) == 0.0
    assert reported_seconds(PHASES, None, 113.5, [STEADY]) == 0.0


def test_throughput_covers_the_steady_seconds() -> None:
    throughput = build_summary(_record())["throughput"]
    assert throughput == {
        "seconds": 7.0,
        "requests_per_s": 10.0,  # 70 turns completed in the 7 steady seconds
        "output_tokens_per_s": 200.0,
        "input_tokens_per_s": 1000.0,
        "mean_users": 5.0,  # seconds without the gauge left out
        "output_tokens_per_s_per_user": 40.0,
        "input_tokens_per_s_per_user": 200.0,
        "goodput_per_s": 5.0,
        "input_token_method": "usage",
        "output_token_method": "usage",
    }


def test_with_the_ramp_throughput_covers_the_whole_run_and_goodput_agrees() -> None:
    summary = build_summary(_record(include_ramp=True))
    throughput = summary["throughput"]
    assert throughput["seconds"] == 13.5 and throughput["requests_per_s"] == round(82 / 13.5, 3)
    assert throughput["mean_users"] == round((2 + 4 + 6 + 1) / 4, 3)
    assert throughput["goodput_per_s"] == summary["goodput"]["per_s"] == round(35 / 13.5, 3)
    assert summary["counters"]["tokens"] == 1640  # counters stay over every phase
    assert build_summary(_record(turn_limits_ms={}))["throughput"]["goodput_per_s"] is None


def test_goodput_per_s_divides_by_the_same_seconds_as_throughput() -> None:
    summary = build_summary(_record())
    assert summary["goodput"]["per_s"] == summary["throughput"]["goodput_per_s"] == 5.0  # 35 / 7 s, not / 8.3 s


def test_token_methods_say_mixed_estimate_and_none() -> None:
    assert input_token_method({"input_token_method_estimate": 3}) == "estimate"
    assert input_token_method({"input_token_method_estimate": 3, "input_token_method_usage": 1}) == "mixed"
    assert input_token_method({"input_token_method_tokenizer": 0}) == "none"


def test_ttft_by_input_size_has_its_own_section_and_stays_out_of_the_others() -> None:
    summary = build_summary(_record())
    assert list(summary["metrics_by_input_tokens"]) == ["64", "1024"]  # size order, steady only
    assert summary["metrics_by_input_tokens"]["1024"]["ttft"]["count"] == 2
    assert summary["metrics_by_input_tokens"]["64"]["ttft"]["count"] == 1
    assert list(summary["metrics"]) == ["ttft"]
    assert all(list(by) in (["ttft"], []) for by in summary["metrics_by_phase"].values())
    assert list(summary["clamped"]) == ["ttft"]


def test_a_rebuilt_record_keeps_the_rates_the_time_series_knows() -> None:
    throughput = build_summary(_record(complete=False))["throughput"]
    assert throughput["requests_per_s"] == 10.0 and throughput["output_tokens_per_s"] == 200.0
    assert throughput["input_tokens_per_s"] is None and throughput["goodput_per_s"] is None
