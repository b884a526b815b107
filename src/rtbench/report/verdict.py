"""The report's first sections: the verdict (badge and SLO table) and the baseline comparison."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rtbench.bundle.summary_types import Summary
from rtbench.report.page import ChartImage, badge, image, note, paragraph, section, table
from rtbench.slo.compare import FEW_SAMPLES, IMPROVEMENT, NO_DATA, REGRESSION, Comparison
from rtbench.slo.evaluate import RuleResult, Verdict
from rtbench.slo.gate import EXIT_PASS, decide
from rtbench.slo.tables import COMPARISON_COLUMNS, SLO_COLUMNS, comparison_cells, slo_cells

__all__ = ["Outcome", "outcome", "verdict_section", "baseline_section", "SLO_TABLE_ID", "DELTA_TABLE_ID"]

SLO_TABLE_ID = "slo-table"
DELTA_TABLE_ID = "delta-table"
_ROW_CLASS = {"pass": "pass", "fail": "fail", "no data": "nodata"}
_DELTA_CLASS = {REGRESSION: "fail", IMPROVEMENT: "pass", NO_DATA: "nodata", FEW_SAMPLES: "nodata"}


@dataclass(frozen=True)
class Outcome:
    """The report's verdict: `word` on the badge (PASS, FAIL, PARTIAL, or NO SLOs when nothing
    was checked), its colour `kind`, and one plain line per fact behind it."""

    word: str
    kind: str
    lines: tuple[str, ...]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def outcome(
    summary: Summary | None,
    partial_reason: str | None,
    verdict: Verdict | None,
    comparisons: Sequence[Comparison] | None,
) -> Outcome:
    """The verdict of a bundle: PARTIAL first (its numbers are incomplete), then the CI gate's
    decision (`rtbench.slo.gate.decide`) on the SLOs and the baseline comparison."""
    gate = decide(summary, verdict, comparisons)
    lines: list[str] = []
    if partial_reason is not None:
        lines.append(f"Partial bundle: {partial_reason}. The figures cover only what was recorded.")
    if summary is None and (verdict is None or not verdict.results):
        lines.append("No SLOs were checked: summary.json is missing and no --slo file was given.")
    elif verdict is None or not verdict.results:
        lines.append("No SLOs were given (no --slo file and no [slo] table in the scenario): no SLO was checked.")
    else:
        breached = len(verdict.breached)
        total = _plural(len(verdict.results), "SLO rule")
        lines.append(f"{breached} of {total} breached." if breached else f"All {total} met.")
    if comparisons is not None:
        regressions = sum(1 for c in comparisons if c.regressed)
        lines.append(
            f"{_plural(regressions, 'regression')} in {_plural(len(comparisons), 'check')} against the baseline."
        )
    lines.extend(f"{p[0].upper()}{p[1:]}." for p in gate.problems if not p.startswith("partial bundle"))
    lines.extend(f"Warning: {w}" for w in gate.warnings)
    checked = bool(verdict is not None and verdict.results) or comparisons is not None
    if partial_reason is not None:
        return Outcome("PARTIAL", "partial", tuple(lines))
    if gate.exit_code != EXIT_PASS:
        return Outcome("FAIL", "fail", tuple(lines))
    return Outcome("PASS", "pass", tuple(lines)) if checked else Outcome("NO SLOs", "none", tuple(lines))


def _slo_table(results: Sequence[RuleResult]) -> str:
    """The SLO rows, with a note column when any rule has a note or a no-data detail."""
    notes = ["; ".join(filter(None, (r.detail, r.note))) for r in results]
    headers: tuple[str, ...] = SLO_COLUMNS
    rows = [slo_cells(r) for r in results]
    if any(notes):
        headers, rows = (*headers, "note"), [(*row, n) for row, n in zip(rows, notes, strict=False)]
    numeric = [False, True, True, True, False, False]
    return table(headers, rows, [_ROW_CLASS[r.status] for r in results], numeric, table_id=SLO_TABLE_ID)


def verdict_section(result: Outcome, verdict: Verdict | None) -> str:
    """The badge, the facts behind it and the SLO table (held rules green, breached ones red)."""
    parts = [
        '<div class="verdict">' + badge(result.word, result.kind) + "</div>",
        *(paragraph(line, "alert" if line.startswith(("Partial", "Warning")) else "headline") for line in result.lines),
    ]
    if verdict is not None and verdict.results:
        if verdict.source:
            parts.append(paragraph(f"SLOs from {verdict.source}."))
        parts.append(_slo_table(verdict.results))
    return section("verdict", "Verdict", parts)


def baseline_section(
    comparisons: Sequence[Comparison], warnings: Sequence[str], baseline_name: str, chart: ChartImage | None
) -> str:
    """The comparison with a baseline bundle: settings that differ, the delta table (ms) and the
    overlaid percentile curves."""
    parts = [paragraph(f"Baseline: {baseline_name}. Latencies in ms; delta = current - baseline.")]
    parts.extend(note(f"Not like for like: {w}", warn=True) for w in warnings)
    tolerance = {(c.tolerance, c.floor_ms) for c in comparisons}
    if len(tolerance) == 1:
        relative, floor = tolerance.pop()
        parts.append(
            paragraph(f"A regression is current > baseline x {1 + relative:g} and current - baseline > {floor:g} ms.")
        )
    if any(c.status == FEW_SAMPLES for c in comparisons):
        parts.append(paragraph("few samples: too few values above that percentile in one of the bundles to judge it."))
    rows = [comparison_cells(c) for c in comparisons]
    classes = [_DELTA_CLASS.get(c.status, "") for c in comparisons]
    numeric = [False, False, True, True, True, True, False]
    parts.append(table(COMPARISON_COLUMNS, rows, classes, numeric, table_id=DELTA_TABLE_ID))
    if chart is not None:
        parts.append(image(chart))
    else:
        parts.append(note("No percentile curves: neither bundle has interval logs for these metrics."))
    return section("baseline", "Against the baseline", parts)
