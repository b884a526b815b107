"""SLO results and comparisons as text cells."""

from __future__ import annotations

from rtbench.slo.compare import Comparison
from rtbench.slo.evaluate import RuleResult
from rtbench.slo.tables import COMPARISON_COLUMNS, SLO_COLUMNS, comparison_cells, slo_cells


def test_slo_cells() -> None:
    held = RuleResult("ttft", "ttft p95", "p95 < 100ms", "p95", "<", 100.0, "ms", 54.0, True, 46.0, 46.0)
    assert slo_cells(held) == ("ttft p95", "< 100 ms", "54 ms", "+46 ms (+46.0%)", "pass")
    rate = RuleResult("delivery", "delivery", ">= 99.9%", None, ">=", 99.9, "%", 99.8, False, -0.1, -0.1)
    assert slo_cells(rate) == ("delivery", ">= 99.9%", "99.8%", "-0.1 pp (-0.1%)", "FAIL")
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
        detail="no data: no recovery samples in the bundle",
    )
    assert slo_cells(missing)[2:] == ("no data", "-", "FAIL")
    assert len(slo_cells(held)) == len(SLO_COLUMNS)


def test_comparison_cells() -> None:
    row = Comparison("ttft", "p95", 54.0, 70.2, 16.2, 30.0, 0.1, 1.0, "regression")
    assert comparison_cells(row) == ("ttft", "p95", "54", "70.2", "+16.2", "+30.0%", "REGRESSION")
    missing = Comparison("tpot", "p99", 18.0, None, None, None, 0.1, 1.0, "no data")
    assert comparison_cells(missing) == ("tpot", "p99", "18", "-", "-", "-", "no data")
    assert len(comparison_cells(row)) == len(COMPARISON_COLUMNS)
