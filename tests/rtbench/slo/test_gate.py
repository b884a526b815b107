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
