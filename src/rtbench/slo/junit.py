"""The gate as JUnit XML, for CI test reporters: one testcase per SLO rule and per regression check.

- suite `rtbench.slo`: a testcase per rule, named like "ttft p95 < 100 ms"; a breach or missing
  data is a `<failure>`.
- suite `rtbench.regression`: a testcase per metric percentile, named like "ttft p95"; a
  regression is a `<failure>`; missing data or too few samples to judge is `<skipped>`.
- suite `rtbench.gate`, only when the results cannot be trusted (partial bundle, saturated client
  with --strict): a testcase per problem, as an `<error>`.

The outer `<testsuites>` carries the verdict line and exit code as properties of each suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

from rtbench.slo.compare import FEW_SAMPLES, NO_DATA, Comparison
from rtbench.slo.evaluate import RuleResult, Verdict
from rtbench.slo.gate import GateOutcome
from rtbench.slo.tables import comparison_cells, slo_cells

__all__ = ["junit_xml"]


def _suite(parent: ET.Element, name: str, properties: Mapping[str, str]) -> ET.Element:
    suite = ET.SubElement(parent, "testsuite", name=name, time="0")
    props = ET.SubElement(suite, "properties")
    for key, value in properties.items():
        ET.SubElement(props, "property", name=key, value=value)
    return suite


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _slo_case(suite: ET.Element, result: RuleResult) -> None:
    label, threshold, measured, margin, _ = slo_cells(result)
    case = _case(suite, f"rtbench.slo.{result.name}", f"{label} {threshold}")
    if not result.passed:
        message = f"{label}: {result.detail or measured}, threshold {threshold}" + (
            "" if margin == "-" else f", margin {margin}"
        )
        failure = ET.SubElement(case, "failure", message=message, type="slo_breached")
        failure.text = result.note or None
    else:
        ET.SubElement(case, "system-out").text = f"measured {measured}, margin {margin}"


def _comparison_case(suite: ET.Element, comparison: Comparison) -> None:
    _, _, baseline, current, delta_ms, delta_percent, verdict = comparison_cells(comparison)
    case = _case(suite, f"rtbench.regression.{comparison.metric}", comparison.label)
    detail = (
        f"{comparison.label}: {current} ms against {baseline} ms in the baseline ({delta_ms} ms, {delta_percent});"
        f" tolerance {comparison.tolerance * 100:g}% and {comparison.floor_ms:g} ms"
    )
    if comparison.regressed:
        ET.SubElement(case, "failure", message=detail, type="regression")
    elif comparison.status == NO_DATA:
        ET.SubElement(case, "skipped", message=f"{comparison.label}: no data in one of the bundles")
    elif comparison.status == FEW_SAMPLES:
        ET.SubElement(case, "skipped", message=f"{comparison.label}: too few samples to judge ({comparison.samples})")
    else:
        ET.SubElement(case, "system-out").text = f"{verdict}: {detail}"


def _count(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for tag, attribute in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        suite.set(attribute, str(sum(1 for c in cases if c.find(tag) is not None)))


def junit_xml(
    outcome: GateOutcome,
    verdict: Verdict | None,
    comparisons: Sequence[Comparison] | None,
    properties: Mapping[str, str] | None = None,
) -> str:
    """The JUnit XML document (a string with an XML declaration) for one gate decision."""
    props = {**(properties or {}), "verdict": outcome.headline, "exit_code": str(outcome.exit_code)}
    root = ET.Element("testsuites", name="rtbench check")
    if outcome.problems:
        suite = _suite(root, "rtbench.gate", props)
        for problem in outcome.problems:
            ET.SubElement(_case(suite, "rtbench.gate", problem.split(":", 1)[0]), "error", message=problem)
    if verdict is not None:
        suite = _suite(root, "rtbench.slo", props)
        for result in verdict.results:
            _slo_case(suite, result)
    if comparisons is not None:
        suite = _suite(root, "rtbench.regression", props)
        for comparison in comparisons:
            _comparison_case(suite, comparison)
    for suite in root.findall("testsuite"):
        _count(suite)
    for attribute in ("tests", "failures", "errors", "skipped"):
        root.set(attribute, str(sum(int(s.get(attribute, "0")) for s in root.findall("testsuite"))))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
