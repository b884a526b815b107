"""JUnit XML: one testcase per SLO rule and per comparison, with the right failure counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from rtbench.slo.compare import NO_DATA, OK, REGRESSION, Comparison
from rtbench.slo.evaluate import RuleResult, Verdict
from rtbench.slo.gate import GateOutcome
from rtbench.slo.junit import junit_xml

HELD = RuleResult("ttft", "ttft p95", "p95 < 100ms", "p95", "<", 100.0, "ms", 54.0, True, 46.0, 46.0)
BREACHED = RuleResult(
    "itl", "itl p99", "p99 < 5ms", "p99", "<", 5.0, "ms", 18.0, False, -13.0, -260.0, note="a <note> & more"
)
ROWS = [
    Comparison("ttft", "p95", 54.0, 70.2, 16.2, 30.0, 0.1, 1.0, REGRESSION),
    Comparison("ttft", "p99", 58.0, 58.0, 0.0, 0.0, 0.1, 1.0, OK),
    Comparison("tpot", "p99", 18.0, None, None, None, 0.1, 1.0, NO_DATA),
]


def parse(outcome: GateOutcome, verdict: Verdict | None, rows: list[Comparison] | None) -> ET.Element:
    text = junit_xml(outcome, verdict, rows, {"bundle": "reports/run"})
    assert text.startswith("<?xml")
    return ET.fromstring(text)


def test_suites_cases_and_counts() -> None:
    root = parse(GateOutcome(1, "FAIL: 1 of 2 SLO rules breached"), Verdict((HELD, BREACHED)), ROWS)
    assert (root.tag, root.get("tests"), root.get("failures"), root.get("skipped")) == ("testsuites", "5", "2", "1")
    slo, regression = root.findall("testsuite")
    assert (slo.get("name"), slo.get("tests"), slo.get("failures")) == ("rtbench.slo", "2", "1")
    names = [case.get("name") for case in slo.findall("testcase")]
    assert names == ["ttft p95 < 100 ms", "itl p99 < 5 ms"]
    failure = slo.findall("testcase")[1].find("failure")
    assert failure is not None
    assert failure.get("message") == "itl p99: 18 ms, threshold < 5 ms, margin -13 ms (-260.0%)"
    assert failure.text == "a <note> & more"
    assert (regression.get("tests"), regression.get("failures"), regression.get("skipped")) == ("3", "1", "1")
    regressed = regression.find("testcase/failure")
    assert regressed is not None and "+16.2 ms, +30.0%" in (regressed.get("message") or "")
    props = {p.get("name"): p.get("value") for p in slo.iter("property")}
    assert props == {"bundle": "reports/run", "verdict": "FAIL: 1 of 2 SLO rules breached", "exit_code": "1"}


def test_only_the_parts_that_were_checked() -> None:
    root = parse(GateOutcome(0, "PASS"), Verdict((HELD,)), None)
    assert [s.get("name") for s in root.findall("testsuite")] == ["rtbench.slo"]
    assert root.get("failures") == "0"


def test_untrustworthy_results_are_errors() -> None:
    outcome = GateOutcome(3, "INVALID", problems=("partial bundle: interrupted",))
    root = parse(outcome, Verdict((HELD,)), None)
    gate = root.find("testsuite[@name='rtbench.gate']")
    assert gate is not None and gate.get("errors") == "1"
    error = gate.find("testcase/error")
    assert error is not None and error.get("message") == "partial bundle: interrupted"
    assert root.get("errors") == "1"


def test_few_samples_is_skipped() -> None:
    row = Comparison("ttft", "p99", 58.0, 90.0, 32.0, 55.2, 0.1, 1.0, "few samples", 200)
    root = parse(GateOutcome(0, "PASS"), None, [row])
    skipped = root.find("testsuite/testcase/skipped")
    assert skipped is not None and skipped.get("message") == "ttft p99: too few samples to judge (200)"
    assert (root.get("failures"), root.get("skipped")) == ("0", "1")
