"""`--abort-on`: which rules may be named, and when a rule is lost over the run so far."""

from __future__ import annotations

import pytest

from rtbench.errors import ConfigError
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.interval import Interval
from rtbench.metrics.phases import Phase
from rtbench.slo.abort import MIN_TURNS, AbortOn, abort_on, ended_turns
from rtbench.slo.spec import parse_slo_table

SPEC = parse_slo_table(
    {
        "ttft": ["p95 < 100ms", "p99 < 200ms"],
        "delivery": ">= 99%",
        "success": ">= 99%",
        "goodput_ratio": ">= 90%",
        "sessions_peak": ">= 10",
    }
)


def _histogram(values_ms: list[float]) -> LatencyHistogram:
    h = LatencyHistogram()
    for ms in values_ms:
        h.record(ms * 1000.0)
    return h


def test_a_name_picks_all_its_rules_and_a_label_one() -> None:
    check = abort_on(SPEC, ["ttft", "delivery", "ttft p95"], include_ramp=False, goodput=False)
    assert check is not None
    assert [rule.label for rule in check.rules] == ["ttft p95", "ttft p99", "delivery"]
    assert abort_on(SPEC, [], include_ramp=False, goodput=False) is None


@pytest.mark.parametrize(
    ("names", "spec", "message"),
    [
        (["itl"], SPEC, "--abort-on itl: no such SLO rule; the SLOs have ttft p95, ttft p99, delivery, success"),
        (["sessions_peak"], SPEC, "--abort-on sessions_peak: sessions_peak is known only at the end of the run"),
        (["delivery"], parse_slo_table({}), "--abort-on needs SLOs: the scenario has no [slo] rules"),
    ],
)
def test_a_name_that_cannot_be_judged_is_one_line(names: list[str], spec: object, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        abort_on(spec, names, include_ramp=False, goodput=False)  # type: ignore[arg-type]
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_nothing_is_judged_before_the_minimum_of_ended_turns() -> None:
    check = AbortOn(abort_on(SPEC, ["delivery"], False, False).rules)  # type: ignore[union-attr]
    few = {"turns_sent": MIN_TURNS + 10, "turns_completed": 0, "failed_error": MIN_TURNS - 1}
    assert ended_turns(few) == MIN_TURNS - 1 and check.judge(few, {}) is None
    enough = {**few, "failed_error": MIN_TURNS}
    reason, detail = check.judge(enough, {})  # type: ignore[misc]
    assert reason == "aborted: delivery breached"
    assert detail == f"--abort-on: delivery is 0% over the run so far ({MIN_TURNS} turns ended), breaching >= 99%"


def test_a_ratio_is_judged_on_ended_turns_only() -> None:
    check = abort_on(SPEC, ["delivery", "success"], False, False)
    assert check is not None
    # 100 sent, 60 completed, 40 still in flight: nothing failed yet
    assert check.judge({"turns_sent": 100, "turns_completed": 60}, {}) is None
    breached = check.judge({"turns_sent": 100, "turns_completed": 58, "failed_timeout": 2}, {})
    assert breached is not None and breached[0] == "aborted: delivery breached"
    assert "96.6" in breached[1] and "(60 turns ended)" in breached[1]


def test_goodput_ratio_without_per_turn_limits_has_no_data_and_is_not_breached() -> None:
    counters = {"turns_sent": 100, "turns_completed": 100, "turns_good": 10}
    without = abort_on(SPEC, ["goodput_ratio"], False, goodput=False)
    with_limits = abort_on(SPEC, ["goodput_ratio"], False, goodput=True)
    assert without is not None and with_limits is not None
    assert without.judge(counters, {}) is None
    assert with_limits.judge(counters, {}) == (
        "aborted: goodput_ratio breached",
        "--abort-on: goodput_ratio is 10% over the run so far (100 turns ended), breaching >= 90%",
    )


def test_a_latency_rule_is_judged_once_it_has_data() -> None:
    check = abort_on(SPEC, ["ttft"], False, False)
    assert check is not None
    counters = {"turns_sent": 60, "turns_completed": 60}
    assert check.judge(counters, {}) is None  # no ttft yet (the ramp): not breached
    assert check.judge(counters, {"ttft": _histogram([50.0] * 60)}) is None
    slow = check.judge(counters, {"ttft": _histogram([50.0] * 50 + [150.0] * 10)})
    assert slow is not None and slow[0] == "aborted: ttft p95 breached"


def test_the_aggregator_is_read_over_the_reported_phases() -> None:
    """Counters of every phase, open seconds included; latency over the steady state only, unless
    the run includes the ramp."""
    aggregator = Aggregator(lambda second: Phase.RAMP if second < 10 else Phase.STEADY)
    slow = _histogram([300.0] * 60).encode()
    aggregator.add(Interval(5, {"ttft": slow}, {}, {"turns_sent": 60, "turns_completed": 60}))
    aggregator.add(Interval(12, {"ttft": _histogram([20.0] * 60).encode()}, {}, {"turns_completed": 0}))
    aggregator.close_through(20.0)
    rules = abort_on(SPEC, ["ttft p95"], False, False).rules  # type: ignore[union-attr]
    assert AbortOn(rules)(aggregator) is None
    assert AbortOn(rules, include_ramp=True)(aggregator) == (
        "aborted: ttft p95 breached",
        "--abort-on: ttft p95 is 300.031 ms over the run so far (60 turns ended), breaching p95 < 100ms",
    )


def test_the_wire_ratios_are_judged_over_the_run_so_far() -> None:
    spec = parse_slo_table({"bandwidth_saving": ">= 80%", "connection_reuse": ">= 90%"})
    check = abort_on(spec, ["bandwidth_saving", "connection_reuse"], False, False)
    assert check is not None
    turns = {"turns_sent": MIN_TURNS, "turns_completed": MIN_TURNS}
    deflated = {**turns, "ws_wire_bytes_in": 1_000, "ws_payload_bytes_in": 10_000}
    assert check.judge(deflated, {}) is None  # 90% saved; no HTTP request: no data, not breached
    breached = check.judge({**turns, "ws_wire_bytes_in": 10_300, "ws_payload_bytes_in": 10_000}, {})
    assert breached is not None and breached[0] == "aborted: bandwidth_saving breached"
    churn = {**turns, "http_connections_opened": 20, "http_requests": 100}
    assert check.judge(churn, {}) == (
        "aborted: connection_reuse breached",
        f"--abort-on: connection_reuse is 80% over the run so far ({MIN_TURNS} turns ended), breaching >= 90%",
    )
