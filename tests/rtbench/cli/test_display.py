"""The summary table of `rtbench run`, from a summary the one builder made."""

from __future__ import annotations

from rich.console import Console

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord
from rtbench.cli.display import SUMMARY_METRICS, summary_table
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.metrics.phases import Phase


def _hist(*values_us: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for value in values_us:
        h.record(value)
    return h


def test_summary_table_lists_metrics_with_values_in_report_order() -> None:
    record = RunRecord(
        rtbench_version="0",
        scenario="table",
        started_at=0.0,
        ended_at=3.0,
        partial_reason=None,
        phases={
            "ramp": {"start": 0.0, "end": 1.0},
            "steady": {"start": 1.0, "end": 2.0},
            "stop": {"start": 2.0, "end": 3.0},
        },
        include_ramp=False,
        config={},
        turn_limits_ms={},
        histograms={Phase.RAMP: {"connect": _hist(1500)}, Phase.STEADY: {"e2e": _hist(80_000), "ttft": _hist(20_000)}},
        counters={},
        seconds=[],
    )
    console = Console(record=True, width=120)
    console.print(summary_table(build_summary(record)))
    text = console.export_text()
    assert "table: latency in ms (steady state)" in text
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]
    assert [row[0] for row in rows] == ["connect", "ttft", "e2e"]  # connect is whole-run; no data, no row
    assert rows[1] == ["ttft", "1", "20.0", "20.0", "20.0", "20.0", "20.0", "20.0"]
    assert SUMMARY_METRICS == tuple(LATENCY_METRICS)
