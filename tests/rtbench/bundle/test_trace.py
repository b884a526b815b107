"""summary.json `trace`: from the run's config and its trace counters over every phase."""

from __future__ import annotations

import dataclasses

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord
from rtbench.bundle.trace import build_trace_section
from rtbench.metrics.phases import Phase


def test_a_trace_run_reports_rows_sent_late_skipped_and_unsent() -> None:
    counters = {"trace_rows": 10, "trace_rows_sent": 8, "trace_rows_late": 3, "trace_rows_skipped": 2}
    section = build_trace_section({"trace_file": "t.jsonl", "trace_speed": 2.0}, counters)
    assert section == {"file": "t.jsonl", "speed": 2.0, "rows": 10, "sent": 8, "late": 3, "skipped": 2, "unsent": 2}


def test_no_section_without_a_trace() -> None:
    assert build_trace_section({"trace_file": None}, {"trace_rows": 3}) is None
    assert build_trace_section({}, {}) is None


def test_the_summary_of_a_trace_run_counts_its_rows_over_every_phase() -> None:
    span = {"start": 1.0, "end": 2.0}
    counters = {
        Phase.RAMP: {"trace_rows": 4},
        Phase.STEADY: {"trace_rows_sent": 3, "trace_rows_late": 1},
        Phase.STOP: {"trace_rows_sent": 1},
    }
    record = RunRecord(
        *("0.1.0", "t", 1.0, 3.0, None, {"ramp": span, "steady": span, "stop": span}, True),
        config={"trace_file": "t.jsonl", "trace_speed": 1.5},
        turn_limits_ms={},
        histograms={},
        counters=counters,
        seconds=(),
    )
    trace = build_summary(record)["trace"]
    assert (trace["rows"], trace["sent"], trace["late"], trace["unsent"], trace["speed"]) == (4, 4, 1, 0, 1.5)
    assert "trace" not in build_summary(dataclasses.replace(record, config={}))
