"""Baseline comparison: relative tolerance AND absolute floor, improvements, missing data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rtbench.slo.compare import (
    FEW_SAMPLES,
    IMPROVEMENT,
    NO_DATA,
    OK,
    REGRESSION,
    comparability_warnings,
    compare,
    compare_one,
)
from rtbench.slo.tolerances import Tolerances


def slower(summary: dict[str, Any], metric: str, factor: float) -> dict[str, Any]:
    changed = copy.deepcopy(summary)
    for key in ("p50", "p95", "p99"):
        changed["metrics"][metric][key] *= factor
    return changed


def test_identical_bundles_have_no_regression(summary: dict[str, Any]) -> None:
    rows = compare(summary, summary)
    assert [r.label for r in rows[:4]] == ["connect p50", "connect p95", "connect p99", "ttft p50"]
    assert {r.metric for r in rows} == {"connect", "ttft", "itl", "tpot", "e2e"}  # client_lag is not gated
    assert all(r.delta_ms == 0 and not r.regressed for r in rows)
    # connect has 100 values: 5 above its p95 and 1 above its p99, under the 10 needed.
    assert [r.label for r in rows if r.status == FEW_SAMPLES] == ["connect p95", "connect p99"]
    assert all(r.status == OK for r in rows if r.metric != "connect" or r.percentile == "p50")


def test_thirty_percent_slower_ttft_regresses(summary: dict[str, Any]) -> None:
    rows = {r.label: r for r in compare(slower(summary, "ttft", 1.3), summary)}
    row = rows["ttft p95"]
    assert (row.baseline_ms, row.current_ms) == (54.0, pytest.approx(70.2))
    assert row.delta_ms == pytest.approx(16.2) and row.delta_percent == pytest.approx(30.0)
    assert row.regressed and (row.tolerance, row.floor_ms) == (0.10, 1.0)
    assert [r.label for r in rows.values() if r.regressed] == ["ttft p50", "ttft p95", "ttft p99"]


def test_both_conditions_are_needed() -> None:
    # 50% slower but only 0.5 ms: under the floor.
    assert compare_one("itl", "p50", 1.5, 1.0, 0.10, 1.0).status == OK
    # 2 ms slower but only 1% of 200 ms: within the tolerance.
    assert compare_one("e2e", "p50", 202.0, 200.0, 0.10, 1.0).status == OK
    assert compare_one("e2e", "p50", 221.0, 200.0, 0.10, 1.0).status == REGRESSION
    # Exactly at the tolerance is not a regression.
    assert compare_one("e2e", "p50", 220.0, 200.0, 0.10, 1.0).status == OK


def test_a_percentile_with_few_values_above_it_is_not_judged(summary: dict[str, Any]) -> None:
    slow = slower(summary, "connect", 2.0)
    rows = {r.label: r for r in compare(slow, summary)}
    assert rows["connect p50"].regressed and rows["connect p50"].samples == 100
    assert rows["connect p99"].status == FEW_SAMPLES and rows["connect p99"].delta_ms == pytest.approx(18.0)
    judged = {r.label: r for r in compare(slow, summary, Tolerances(min_tail_samples=0))}
    assert judged["connect p99"].regressed
    slow["metrics"]["connect"]["count"] = 5000  # the smaller count of the two bundles decides
    assert {r.label: r for r in compare(slow, summary)}["connect p99"].status == FEW_SAMPLES
    assert compare_one("ttft", "p99", 90.0, 50.0, 0.1, 1.0, None, 10).regressed  # count unknown: judged


def test_improvements_are_reported(summary: dict[str, Any]) -> None:
    rows = compare(slower(summary, "e2e", 0.5), summary)
    assert {r.label for r in rows if r.status == IMPROVEMENT} == {"e2e p50", "e2e p95", "e2e p99"}
    assert not any(r.regressed for r in rows)


def test_per_metric_tolerance_and_floor(summary: dict[str, Any]) -> None:
    current = slower(summary, "ttft", 1.08)
    assert not any(r.regressed for r in compare(current, summary))
    rows = compare(current, summary, Tolerances(per_metric=(("ttft", 0.05),)))
    assert [r.label for r in rows if r.regressed] == ["ttft p50", "ttft p95", "ttft p99"]
    rows = compare(current, summary, Tolerances(floor_ms=10.0, per_metric=(("ttft", 0.05),)))
    assert not any(r.regressed for r in rows)


def test_a_metric_in_one_bundle_only_is_no_data(summary: dict[str, Any]) -> None:
    current = copy.deepcopy(summary)
    current["metrics"]["recovery"] = {"p50": 100.0, "p95": 200.0, "p99": 300.0}
    del current["metrics"]["tpot"]
    rows = {r.label: r for r in compare(current, summary)}
    assert rows["recovery p95"].status == NO_DATA and rows["recovery p95"].baseline_ms is None
    assert rows["tpot p99"].status == NO_DATA and rows["tpot p99"].current_ms is None
    assert not rows["tpot p99"].regressed


def test_comparability_warnings(summary: dict[str, Any]) -> None:
    assert comparability_warnings(summary, summary) == []
    other = copy.deepcopy(summary)
    other["config"]["users"] = 10
    other["include_ramp"] = True
    assert comparability_warnings(summary, other) == [
        "include_ramp differs: False here, True in the baseline",
        "config.users differs: 1000 here, 10 in the baseline",
    ]
