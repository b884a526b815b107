"""The Markdown step summary: verdict line, SLO table, regression table."""

from __future__ import annotations

from rtbench.slo.compare import OK, REGRESSION, Comparison
from rtbench.slo.evaluate import RuleResult, Verdict
from rtbench.slo.gate import GateOutcome
from rtbench.slo.markdown import markdown_summary, markdown_table

HELD = RuleResult(
    "ttft", "ttft p95", "p95 < 100ms", "p95", "<", 100.0, "ms", 54.0, True, 46.0, 46.0, note="TTFT | first token"
)


def test_table_escapes_pipes() -> None:
    assert markdown_table(("a", "b"), [("x|y", "z")]) == "| a | b |\n| --- | --- |\n| x\\|y | z |"


def test_summary_has_verdict_and_both_tables() -> None:
    rows = [
        Comparison("ttft", "p95", 54.0, 70.2, 16.2, 30.0, 0.1, 1.0, REGRESSION),
        Comparison("ttft", "p99", 58.0, 58.0, 0.0, 0.0, 0.1, 1.0, OK),
    ]
    outcome = GateOutcome(2, "REGRESSION: all 1 SLO rule met; 1 regression in 2 checks", warnings=("saturated",))
    text = markdown_summary(outcome, Verdict((HELD,), "slo.toml"), rows, "reports/new", "reports/old")
    lines = text.splitlines()
    assert lines[0] == "## ❌ rtbench check: REGRESSION: all 1 SLO rule met; 1 regression in 2 checks"
    assert "exit code 2 · bundle `reports/new`" in lines
    assert "> **warning:** saturated" in lines
    assert "### SLOs (slo.toml)" in lines
    assert "| ttft p95 | < 100 ms | 54 ms | +46 ms (+46.0%) | pass | TTFT \\| first token |" in lines
    assert "### Against the baseline `reports/old`" in lines
    assert "| ttft | p95 | 54 | 70.2 | +16.2 | +30.0% | REGRESSION |" in lines


def test_missing_data_says_why_in_the_note_column() -> None:
    missing = RuleResult(
        "recovery",
        "recovery max",
        "max < 5s",
        "max",
        "<",
        5.0,
        "s",
        None,
        False,
        None,
        None,
        note="every session",
        detail="no data: no recovery samples",
    )
    text = markdown_summary(GateOutcome(1, "FAIL"), Verdict((missing,)), None)
    assert "| recovery max | < 5 s | no data | - | FAIL | no data: no recovery samples; every session |" in text


def test_summary_without_baseline_or_rules() -> None:
    text = markdown_summary(GateOutcome(0, "PASS: all 0 SLO rules met"), Verdict(()), None)
    assert text.startswith("## ✅ rtbench check: PASS")
    assert "_no SLO rules_" in text and "baseline" not in text
