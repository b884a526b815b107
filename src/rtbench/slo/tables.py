"""SLO results and comparisons as rows of text cells: one rendering for the terminal, Markdown,
JUnit and the HTML report."""

from __future__ import annotations

from rtbench.slo.compare import IMPROVEMENT, REGRESSION, Comparison
from rtbench.slo.evaluate import RuleResult
from rtbench.slo.format import format_percent, format_quantity, format_signed

__all__ = ["SLO_COLUMNS", "COMPARISON_COLUMNS", "slo_cells", "comparison_cells"]

#: Column names of an SLO results table and of a comparison table, matching the cells below.
SLO_COLUMNS: tuple[str, ...] = ("SLO", "threshold", "measured", "margin", "verdict")
COMPARISON_COLUMNS: tuple[str, ...] = ("metric", "percentile", "baseline", "current", "delta ms", "delta %", "verdict")


def slo_cells(result: RuleResult) -> tuple[str, ...]:
    """One SLO result as text cells for `SLO_COLUMNS`.

    The margin is signed, positive inside the bound: "+48.4 ms (+48.4%)"; for a percentage
    threshold it is in percentage points: "+0.1 pp (+0.1%)". Without data the measured cell is
    "no data" (`result.detail` says why).
    """
    margin = "-"
    if result.margin is not None:
        unit = "pp" if result.unit == "%" else result.unit  # percentage points, not a relative %
        margin = f"{format_signed(result.margin, unit)} ({format_percent(result.margin_percent)})"
    verdict = "pass" if result.passed else "FAIL"
    return (
        result.label,
        f"{result.operator} {format_quantity(result.threshold, result.unit)}",
        format_quantity(result.measured, result.unit) if result.measured is not None else "no data",
        margin,
        verdict,
    )


def comparison_cells(comparison: Comparison) -> tuple[str, ...]:
    """One comparison as text cells for `COMPARISON_COLUMNS` (values in ms)."""
    verdict = {REGRESSION: "REGRESSION", IMPROVEMENT: "improvement"}.get(comparison.status, comparison.status)
    return (
        comparison.metric,
        comparison.percentile,
        format_quantity(comparison.baseline_ms, ""),
        format_quantity(comparison.current_ms, ""),
        format_signed(comparison.delta_ms, ""),
        format_percent(comparison.delta_percent),
        verdict,
    )
