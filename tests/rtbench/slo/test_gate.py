"""The gate's exit code and verdict line."""

from __future__ import annotations

from typing import Any

from rtbench.slo.compare import OK, REGRESSION, Comparison
from rtbench.slo.evaluate import RuleResult, Verdict
from rtbench.slo.gate import EXIT_INVALID, EXIT_PASS, EXIT_REGRESSION, EXIT_SLO_BREACHED, decide


def result(passed: bool) -> RuleResult:
    return RuleResult("ttft", "ttft p95", "p95 < 100ms", "p95", "<", 100.0, "ms", 54.0, passed, 46.0, 46.0)


def comparison(status: str) -> Comparison:
    return Comparison("ttft", "p95", 54.0, 70.0, 16.0, 29.6, 0.1, 1.0, status)


PASSING = Verdict((result(True), result(True)))
BREACHED = Verdict((result(True), result(False)))


def test_pass(summary: dict[str, Any]) -> None:
    outcome = decide(summary, PASSING, [comparison(OK)])
    assert outcome.exit_code == EXIT_PASS and outcome.passed
    assert outcome.headline == "PASS: all 2 SLO rules met; no regression in 1 check"


def test_breach_wins_over_regression(summary: dict[str, Any]) -> None:
    outcome = decide(summary, BREACHED, [comparison(REGRESSION), comparison(OK)])
    assert outcome.exit_code == EXIT_SLO_BREACHED
    assert outcome.headline == "FAIL: 1 of 2 SLO rules breached; 1 regression in 2 checks"


def test_regression_alone_is_2(summary: dict[str, Any]) -> None:
    assert decide(summary, PASSING, [comparison(REGRESSION)]).exit_code == EXIT_REGRESSION
    assert decide(summary, None, [comparison(REGRESSION)]).headline == "REGRESSION: 1 regression in 1 check"


def test_partial_bundle_is_3_whatever_else(summary: dict[str, Any]) -> None:
    summary.update(partial=True, partial_reason="interrupted")
    outcome = decide(summary, BREACHED, [comparison(REGRESSION)])
    assert outcome.exit_code == EXIT_INVALID
    assert outcome.problems == ("partial bundle: interrupted",)
    assert outcome.headline.startswith("INVALID: partial bundle: interrupted; 1 of 2 SLO rules breached")


def test_saturation_warns_unless_strict(summary: dict[str, Any]) -> None:
    summary["self_check"].update(saturated=True, message="client CPU 97% > 85%")
    relaxed = decide(summary, PASSING)
    assert relaxed.exit_code == EXIT_PASS
    assert relaxed.warnings == ("load generator saturated: client CPU 97% > 85%; results may reflect the client",)
    strict = decide(summary, PASSING, strict=True)
    assert strict.exit_code == EXIT_INVALID and strict.warnings == ()
    assert strict.problems == ("load generator saturated: client CPU 97% > 85% (--strict)",)


def test_a_run_that_did_no_work_is_3_with_slos_or_not(summary: dict[str, Any]) -> None:
    summary["delivery"].update(turns_completed=0, turns_sent=40)
    summary["delivery"]["failed"] = {"timeout": 0, "error": 40, "incomplete": 0, "seq_gap": 0}
    alone = decide(summary, None)
    assert alone.exit_code == EXIT_INVALID
    assert alone.headline == "INVALID: no turn completed of 40 sent (failed: error 40)"
    assert decide(summary, BREACHED).exit_code == EXIT_INVALID


def test_an_aborted_run_is_an_slo_breach_not_a_partial_one(summary: dict[str, Any]) -> None:
    summary.update(partial=True, partial_reason="aborted: delivery breached")
    outcome = decide(summary, BREACHED)
    assert outcome.exit_code == EXIT_SLO_BREACHED and outcome.problems == ()
    assert outcome.headline == "FAIL: aborted: delivery breached; 1 of 2 SLO rules breached"
    # the stop made the rule pass again over the whole run: the run was still stopped on a breach
    assert decide(summary, PASSING).exit_code == EXIT_SLO_BREACHED
    assert decide(summary, None).headline == "FAIL: aborted: delivery breached"


def _starved_summary() -> dict[str, Any]:
    """A summary from the one builder: 10 steady seconds at 7% client CPU, the client waiting
    3 ms for a core each run in 3 of them."""
    from rtbench.bundle.builder import build_summary
    from rtbench.bundle.record import RunRecord, SecondSample
    from rtbench.metrics.phases import Phase

    late = (4, 5, 9)
    seconds = [
        SecondSample(
            Phase.STEADY, second=s, turns_completed=20, client_cpu=7.0, client_runq_delay_ms=3.0 if s in late else 0.1
        )
        for s in range(1, 11)
    ]
    span = {"start": None, "end": None}
    record = RunRecord(
        rtbench_version="0.1.0",
        scenario="gate",
        started_at=0.0,
        ended_at=11.0,
        partial_reason=None,
        phases={"ramp": span, "steady": span, "stop": span},
        include_ramp=False,
        config={},
        turn_limits_ms={},
        histograms={},
        counters={Phase.STEADY: {"connect_ok": 20, "turns_sent": 200, "turns_completed": 200}},  # work was done
        seconds=seconds,
    )
    return dict(build_summary(record))


def test_a_starved_client_fails_strict_with_the_share_of_turns_in_untrusted_seconds() -> None:
    summary = _starved_summary()
    assert summary["self_check"]["client_cpu_mean"] == 7.0 and summary["self_check"]["saturated"]
    strict = decide(summary, PASSING, strict=True)
    assert strict.exit_code == EXIT_INVALID
    (problem,) = strict.problems
    assert problem.startswith("load generator saturated: client saturated: latencies inflated (starved: ")
    assert problem.endswith("; 30.0% of turns measured in untrusted seconds (3 of 10 seconds) (--strict)")
    relaxed = decide(summary, PASSING)
    assert relaxed.exit_code == EXIT_PASS and "30.0% of turns measured in untrusted seconds" in relaxed.warnings[0]
