"""summary.json `metrics_by_turn` and `conversation`: pure, from RunRecords made by hand, and from
by-turn histograms recorded through the Recorder and merged across processes as a run does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgpack
from support.clock import FakeClock

from rtbench.bundle.builder import build_summary
from rtbench.bundle.record import RunRecord
from rtbench.bundle.summary import read_summary, write_summary
from rtbench.bundle.summary_types import Phases
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.breakdowns import by_turn_metric
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.metrics.interval import Interval
from rtbench.metrics.phases import Phase, PhaseBoundaries
from rtbench.metrics.recorder import Recorder

RAMP, STEADY, STOP = Phase.RAMP, Phase.STEADY, Phase.STOP
PHASES: Phases = {
    "ramp": {"start": 100.0, "end": 102.0},
    "steady": {"start": 102.0, "end": 112.0},
    "stop": {"start": 112.0, "end": 113.0},
}
CONVERSATION = {"conversations_started": 4, "persona_switches": 3, "context_truncations": 2, "context_turns_dropped": 5}


def _hist(*values_us: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for value in values_us:
        h.record(value)
    return h


def _record(**fields: Any) -> RunRecord:
    base: dict[str, Any] = {
        "rtbench_version": "0.1.0",
        "scenario": "conversations",
        "started_at": 100.0,
        "ended_at": 113.0,
        "partial_reason": None,
        "phases": PHASES,
        "include_ramp": False,
        "config": {},
        "turn_limits_ms": {},
        "histograms": {
            RAMP: {"ttft": _hist(90_000), by_turn_metric("ttft", 1): _hist(90_000)},
            STEADY: {
                "ttft": _hist(10_000, 20_000, 30_000, 40_000),
                "e2e": _hist(100_000),
                by_turn_metric("ttft", 1): _hist(10_000),
                by_turn_metric("ttft", 2): _hist(20_000),
                by_turn_metric("ttft", 11): _hist(30_000, 40_000),
                by_turn_metric("e2e", 2): _hist(100_000),
                "persona_switch": _hist(40_000),
                "ttft_same_persona": _hist(20_000, 30_000),
            },
            STOP: {"ttft": _hist(70_000, -5), by_turn_metric("ttft", 3): _hist(70_000, -5)},
        },
        "counters": {STEADY: {"turns_sent": 4, "turns_completed": 4, **CONVERSATION}},
        "seconds": [],
    }
    return RunRecord(**{**base, **fields})


def test_by_turn_figures_cover_the_phases_of_metrics_in_turn_order() -> None:
    record = _record()
    summary = build_summary(record)
    by_turn = summary["metrics_by_turn"]
    assert list(by_turn) == ["1", "2", "10+"]  # steady only: the ramp's turn 1 and the stop's turn 3 left out
    assert by_turn["1"]["ttft"] == summarize_ms(record.histograms[STEADY]["ttft@1"])
    assert list(by_turn["2"]) == ["ttft", "e2e"] and by_turn["10+"]["ttft"]["count"] == 2
    widened = build_summary(_record(include_ramp=True))["metrics_by_turn"]
    assert list(widened) == ["1", "2", "3", "10+"] and widened["1"]["ttft"]["count"] == 2


def test_by_turn_histograms_stay_out_of_metrics_phases_and_clamped_counts() -> None:
    summary = build_summary(_record())
    assert list(summary["metrics"]) == ["ttft", "e2e", "persona_switch", "ttft_same_persona"]
    for by_phase in summary["metrics_by_phase"].values():
        assert not any("@" in name for name in by_phase)
    assert summary["clamped"] == {"ttft": 1, "e2e": 0, "persona_switch": 0, "ttft_same_persona": 0}
    assert len(summary["warnings"]) == 1 and "@" not in summary["warnings"][0]  # the clamped value once, as ttft


def test_persona_switch_sits_beside_the_same_persona() -> None:
    """ttft_same_persona is a metric of report order, right after persona_switch (not sorted after
    the canonical metrics as an unknown name would be)."""
    steady = {**_record().histograms[STEADY], "recovery": _hist(500_000)}
    metrics = build_summary(_record(histograms={STEADY: steady}))["metrics"]
    assert list(metrics) == ["ttft", "e2e", "persona_switch", "ttft_same_persona", "recovery"]
    assert metrics["persona_switch"] == summarize_ms(steady["persona_switch"])
    assert metrics["ttft_same_persona"]["count"] == 2


def test_conversation_counters_have_their_section() -> None:
    summary = build_summary(_record())
    assert summary["conversation"] == CONVERSATION
    assert summary["counters"]["persona_switches"] == 3
    assert list(summary).index("conversation") == list(summary).index("delivery") + 1


def test_no_conversation_gives_an_empty_map_and_zero_counters() -> None:
    single = {STEADY: {"ttft": _hist(10_000)}}
    summary = build_summary(_record(histograms=single, counters={STEADY: {"turns_sent": 1}}))
    assert summary["metrics_by_turn"] == {}
    assert summary["conversation"] == dict.fromkeys(CONVERSATION, 0)


def test_a_rebuilt_record_keeps_the_by_turn_figures_but_not_the_counters() -> None:
    """A killed run's interval logs hold the by-turn histograms; only the end of a run knows the
    conversation counters."""
    live, rebuilt = build_summary(_record()), build_summary(_record(complete=False, partial_reason="killed"))
    assert rebuilt["metrics_by_turn"] == live["metrics_by_turn"]
    assert "conversation" not in rebuilt


def test_turn_order_survives_the_summary_file(tmp_path: Path) -> None:
    write_summary(tmp_path / "summary.json", build_summary(_record(include_ramp=True)))
    assert list(read_summary(tmp_path)["metrics_by_turn"]) == ["1", "2", "3", "10+"]


def test_recorded_by_turn_histograms_merge_exactly_across_processes() -> None:
    """Two load processes record the turns of their conversations through `Recorder`; their
    intervals travel in the wire form (through msgpack, as in Locust's messages, and JSON) and the
    master's aggregator merges them: each turn index's figures are exactly those of every value
    recorded for it, and the summary holds them in `metrics_by_turn` only."""
    start = 1_700_000_000
    clock = FakeClock(start + 0.5)
    recorders = [Recorder(clock), Recorder(clock)]
    expected: dict[str, LatencyHistogram] = {}
    for second in range(3):
        clock.now = start + second + 0.5
        for process, recorder in enumerate(recorders):
            for turn in range(1, 13):  # turns 10, 11 and 12 share the tail key
                ttft_us = 1000.0 * turn + 7 * process + second
                for metric, value in (("ttft", ttft_us), ("e2e", 5 * ttft_us), ("tpot", 300.0 + turn)):
                    name = by_turn_metric(metric, turn)
                    recorder.record(name, value)
                    recorder.record(metric, value)
                    expected.setdefault(name, LatencyHistogram()).record(value)
                recorder.count("turns_completed")
            recorder.count("conversations_started")
    aggregator = Aggregator(PhaseBoundaries(ramp_end=start, stop_start=start + 10))
    for recorder in recorders:
        for interval in recorder.take_closed():
            wire = json.loads(json.dumps(msgpack.unpackb(msgpack.packb(interval.to_wire()))))
            assert "ttft@10+" in wire["histograms"]
            aggregator.add(Interval.from_wire(wire))
    aggregator.close_all()
    totals = aggregator.totals([STEADY])
    assert {name: totals[name].total_count for name in expected} == {n: h.total_count for n, h in expected.items()}
    record = _record(
        histograms={phase: aggregator.totals([phase]) for phase in Phase},
        counters={phase: aggregator.counters([phase]) for phase in Phase},
    )
    summary = build_summary(record)
    by_turn = summary["metrics_by_turn"]
    assert list(by_turn) == [*map(str, range(1, 10)), "10+"]
    for key in by_turn:
        index = 10 if key == "10+" else int(key)
        for metric in ("ttft", "tpot", "e2e"):
            assert by_turn[key][metric] == summarize_ms(expected[by_turn_metric(metric, index)]), (key, metric)
    assert by_turn["10+"]["ttft"]["count"] == 3 * 2 * 3  # turns 10-12, two processes, three seconds
    assert list(summary["metrics"]) == ["ttft", "tpot", "e2e"] and summary["metrics"]["ttft"]["count"] == 72
    assert summary["conversation"]["conversations_started"] == 6
