"""The verdict: PARTIAL, FAIL, PASS or NO SLOs, and the SLO and delta tables."""

from __future__ import annotations

from typing import Any

from rtbench.report.verdict import DELTA_TABLE_ID, SLO_TABLE_ID, baseline_section, outcome, verdict_section
from rtbench.slo.compare import compare
from rtbench.slo.evaluate import evaluate
from rtbench.slo.spec import parse_slo_table

SUMMARY: dict[str, Any] = {
    "partial": False,
    "metrics": {"ttft": {"p50": 40.0, "p95": 80.0, "p99": 120.0}},
    "self_check": {"saturated": False},
}


def _verdict(table: dict[str, Any]):  # type: ignore[no-untyped-def]
    return evaluate(parse_slo_table(table, "test"), SUMMARY)


def test_pass_fail_and_no_slos() -> None:
    assert outcome(SUMMARY, None, _verdict({"ttft": "p95 < 100ms"}), None).word == "PASS"
    failed = outcome(SUMMARY, None, _verdict({"ttft": ["p95 < 100ms", "p99 < 100ms"]}), None)
    assert (failed.word, failed.kind) == ("FAIL", "fail")
    assert "1 of 2 SLO rules breached." in failed.lines
    none = outcome(SUMMARY, None, None, None)
    assert none.word == "NO SLOs" and any("No SLOs were given" in line for line in none.lines)


def test_partial_wins_and_says_why() -> None:
    result = outcome({**SUMMARY, "partial": True}, "interrupted", _verdict({"ttft": "p99 < 100ms"}), None)
    assert result.word == "PARTIAL"
    assert result.lines[0].startswith("Partial bundle: interrupted.")


def test_regression_fails() -> None:
    slower = {**SUMMARY, "metrics": {"ttft": {"p50": 80.0, "p95": 80.0, "p99": 120.0}}}
    comparisons = compare(slower, SUMMARY)
    result = outcome(slower, None, None, comparisons)
    assert result.word == "FAIL"
    assert "1 regression in 3 checks against the baseline." in result.lines


def test_saturation_is_a_warning_line() -> None:
    saturated = {**SUMMARY, "self_check": {"saturated": True, "message": "client CPU 97%"}}
    result = outcome(saturated, None, _verdict({"ttft": "p95 < 100ms"}), None)
    assert result.word == "PASS"
    assert any(line.startswith("Warning: load generator saturated: client CPU 97%") for line in result.lines)


def test_slo_table_rows_are_coloured() -> None:
    verdict = _verdict({"ttft": ["p95 < 100ms", "p99 < 100ms"], "itl": "p95 < 5ms"})
    html = verdict_section(outcome(SUMMARY, None, verdict, None), verdict)
    assert f'id="{SLO_TABLE_ID}"' in html
    assert html.count('<tr class="pass">') == 1
    assert html.count('<tr class="fail">') == 1
    assert html.count('<tr class="nodata">') == 1  # itl: no samples
    assert "<th>note</th>" in html and "no itl samples in the bundle" in html


def test_no_note_column_without_notes() -> None:
    verdict = _verdict({"ttft": "p95 < 100ms"})
    html = verdict_section(outcome(SUMMARY, None, verdict, None), verdict)
    assert "<th>note</th>" not in html and "<th>verdict</th>" in html


def test_delta_table_has_a_row_per_comparison() -> None:
    slower = {**SUMMARY, "metrics": {"ttft": {"p50": 80.0, "p95": 80.0, "p99": 120.0}}}
    comparisons = compare(slower, SUMMARY)
    html = baseline_section(comparisons, ["scenario differs"], "old <run>", None)
    assert f'id="{DELTA_TABLE_ID}"' in html
    assert html.count('<tr class="fail">') == 1  # ttft p50 regressed
    assert html.count("<tr>") == 3  # the header and two rows within tolerance
    assert "old &lt;run&gt;" in html and "Not like for like: scenario differs" in html


def test_a_run_that_did_no_work_fails_and_says_why() -> None:
    idle = {
        **SUMMARY,
        "sessions": {"peak": 3},
        "delivery": {"turns_sent": 12, "turns_completed": 0, "failed": {"error": 12}},
    }
    result = outcome(idle, None, None, None)
    assert result.word == "FAIL"
    assert "No turn completed of 12 sent (failed: error 12)." in result.lines
