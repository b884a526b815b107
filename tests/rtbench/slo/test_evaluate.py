"""Evaluation of rules against a summary with known values: measured, margin, pass, no data."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from rtbench.slo.evaluate import evaluate
from rtbench.slo.spec import SloSpec, parse_slo_table


def spec(text: str) -> SloSpec:
    return parse_slo_table(tomllib.loads(text)["slo"], "slo.toml", text)


def test_latency_rule_inside_and_outside(summary: dict[str, Any]) -> None:
    verdict = evaluate(spec('[slo]\nttft = { rules = ["p95 < 100ms", "p99 < 0.05s"], note = "n" }\n'), summary)
    inside, outside = verdict.results
    assert (inside.label, inside.measured, inside.unit, inside.passed) == ("ttft p95", 54.0, "ms", True)
    assert (inside.margin, inside.margin_percent, inside.note) == (46.0, 46.0, "n")
    assert (outside.measured, outside.unit, outside.threshold) == (0.058, "s", 0.05)
    assert outside.passed is False and outside.status == "fail"
    assert outside.margin == pytest.approx(-0.008)
    assert outside.margin_percent == pytest.approx(-16.0)
    assert not verdict.passed and verdict.breached == (outside,)
    assert verdict.source == "slo.toml"


def test_boundaries_follow_the_operator(summary: dict[str, Any]) -> None:
    results = evaluate(
        spec('[slo]\nttft = ["p95 < 54ms", "p95 <= 54ms", "p95 > 54ms", "p95 >= 54ms"]\n'), summary
    ).results
    assert [r.passed for r in results] == [False, True, False, True]
    assert all(r.margin == 0 for r in results)


def test_rates_are_compared_in_percent_without_float_noise(summary: dict[str, Any]) -> None:
    summary["delivery"]["delivery_ratio"] = 0.999
    results = evaluate(spec('[slo]\ndelivery = ">= 99.9%"\nconnect_success = ">= 99.9%"\n'), summary).results
    assert (results[0].measured, results[0].passed, results[0].margin) == (99.9, True, 0.0)
    assert (results[1].measured, results[1].passed) == (99.8, False)
    assert results[1].margin == pytest.approx(-0.1)


def test_uptime_and_continuity_of_sessions_through_drops(summary: dict[str, Any]) -> None:
    summary["delivery"].update(uptime_ratio=0.996, continuity_ratio=0.98)
    uptime, continuity = evaluate(spec('[slo]\nuptime = ">= 99.5%"\ncontinuity = ">= 99%"\n'), summary).results
    assert (uptime.measured, uptime.passed) == (99.6, True)
    assert (continuity.measured, continuity.passed) == (98.0, False)
    summary["delivery"]["uptime_ratio"] = None  # an HTTP run holds no WebSocket sessions
    (nodata,) = evaluate(spec('[slo]\nuptime = ">= 99.5%"\n'), summary).results
    assert nodata.status == "no data"


def test_success_is_completed_over_sent_less_cancelled(summary: dict[str, Any]) -> None:
    (result,) = evaluate(spec('[slo]\nsuccess = ">= 99.95%"\n'), summary).results
    assert result.measured == pytest.approx(99.94997, abs=1e-5)
    assert result.passed is False


def test_counts_resources_goodput_in_the_threshold_unit(summary: dict[str, Any]) -> None:
    text = (
        '[slo]\nsessions_peak = ">= 10000"\nserver_rss_per_session = ["< 10MB", "< 50KB"]\n'
        'server_cpu = "< 60%"\ngoodput = ">= 50/s"\ngoodput_ratio = ">= 99%"\n'
    )
    got = [(r.label, r.measured, r.unit, r.passed) for r in evaluate(spec(text), summary).results]
    assert got == [
        ("sessions_peak", 1000.0, "", False),
        ("server_rss_per_session", 0.05, "MB", True),
        ("server_rss_per_session", 51.2, "KB", False),
        ("server_cpu", 45.0, "%", True),
        ("goodput", 99.0, "/s", True),
        ("goodput_ratio", 99.0495, "%", True),
    ]
    assert evaluate(spec(text), summary).results[0].margin_percent == -90.0


def test_missing_data_fails_and_says_why(summary: dict[str, Any]) -> None:
    summary["target"]["rss_per_session_kb"] = None
    summary["goodput"] = {"limits_ms": {}, "turns_good": None, "per_s": None, "ratio": None}
    text = '[slo]\nrecovery = "max < 5s"\nserver_rss_per_session = "< 10MB"\ngoodput = ">= 1/s"\n'
    results = evaluate(spec(text), summary).results
    assert [r.status for r in results] == ["no data"] * 3
    assert all(r.passed is False and r.measured is None and r.margin is None for r in results)
    assert results[0].detail == "no data: no recovery samples in the bundle"
    assert "not monitored" in results[1].detail
    assert "no per-turn limits" in results[2].detail


def test_empty_spec_passes_with_no_results(summary: dict[str, Any]) -> None:
    verdict = evaluate(SloSpec(), summary)
    assert verdict.results == () and verdict.passed


def test_goodput_counted_with_other_limits_is_a_warning(summary: dict[str, Any]) -> None:
    same = evaluate(spec('[slo]\nttft = "p95 < 100ms"\ngoodput = ">= 50/s"\n'), summary)
    assert same.warnings == ()
    other = evaluate(spec('[slo]\ngoodput = ">= 50/s"\n[slo.per_turn]\nttft = "80ms"\ne2e = "1s"\n'), summary)
    assert other.warnings == (
        "goodput was counted with per-turn limits ttft 100 ms, not this spec's ttft 80 ms, e2e 1,000 ms",
    )
    assert evaluate(spec('[slo]\nttft = "p95 < 1ms"\n'), summary).warnings == ()
