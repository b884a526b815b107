"""build_summary: pure, from a RunRecord made by hand."""

from __future__ import annotations

import json
from typing import Any

from rtbench.bundle.builder import (
    SATURATION_CPU_PERCENT,
    build_summary,
    merged_counters,
    merged_histograms,
    reported_phases,
)
from rtbench.bundle.events import RunEvent
from rtbench.bundle.record import RunRecord, SecondSample
from rtbench.bundle.summary import write_summary
from rtbench.bundle.summary_types import Phases
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.metrics.names import ERROR_CODES_KEPT
from rtbench.metrics.phases import Phase

RAMP, STEADY, STOP = Phase.RAMP, Phase.STEADY, Phase.STOP
PHASES: Phases = {
    "ramp": {"start": 100.0, "end": 102.0},
    "steady": {"start": 102.0, "end": 112.0},
    "stop": {"start": 112.0, "end": 113.0},
}


def _hist(*values_us: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for value in values_us:
        h.record(value)
    return h


def _record(**fields: Any) -> RunRecord:
    base: dict[str, Any] = {
        "rtbench_version": "0.1.0",
        "scenario": "unit",
        "started_at": 100.0,
        "ended_at": 113.0,
        "partial_reason": None,
        "phases": PHASES,
        "include_ramp": False,
        "config": {"include_ramp": False},
        "turn_limits_ms": {"ttft": 50.0},
        "histograms": {
            RAMP: {"connect": _hist(2000, 3000), "ttft": _hist(90_000), "recovery": _hist(400_000)},
            STEADY: {"ttft": _hist(10_000, 20_000), "recovery": _hist(200_000), "client_lag": _hist(1000, 2000)},
            STOP: {"ttft": _hist(70_000), "connect": _hist(5000)},
        },
        "counters": {
            RAMP: {"connect_ok": 4, "connect_failed": 1, "connect_failed_refused": 1, "turns_sent": 3},
            STEADY: {
                "turns_sent": 10,
                "turns_completed": 8,
                "turns_good": 6,
                "failed_timeout": 1,
                "failed_error": 1,
                "error_frame_http_500": 1,
                "token_count_usage": 8,
            },
            STOP: {"turns_completed": 2, "turns_cancelled": 1, "turns_good": 1},
        },
        "seconds": [
            SecondSample(RAMP, sessions=2, client_cpu=99.0, target_rss_mb=60.0, target_sessions=2),
            SecondSample(STEADY, sessions=4, client_cpu=10.0, client_rss_mb=80.0, client_rss_idle_mb=60.0),
            SecondSample(STEADY, sessions=4, client_cpu=20.0, target_rss_mb=52.0, target_cpu=5.0, target_sessions=4),
            SecondSample(STOP, sessions=1, client_cpu=99.0),
        ],
        "target_source": "pid 7",
        "target_idle_rss_bytes": 50 * 2**20,
        "events": [RunEvent(105.0, "worker_crash", "worker process 1 exited")],
        "versions": {"rtbench": "0.1.0"},
        "pid": 42,
    }
    return RunRecord(**{**base, **fields})


def test_metrics_cover_the_steady_phase_and_whole_run_metrics_every_phase() -> None:
    record = _record()
    summary = build_summary(record)
    assert summary["metrics"]["ttft"]["count"] == 2  # steady only
    assert summary["metrics"]["connect"]["count"] == 3  # ramp and stop too
    assert summary["metrics"]["recovery"]["count"] == 2  # recovery is whole-run like connect
    assert list(summary["metrics"]) == ["connect", "ttft", "recovery", "client_lag"]
    assert summary["whole_run_metrics"] == ["connect", "recovery"]
    assert summary["metrics_by_phase"]["ramp"]["ttft"] == summarize_ms(record.histograms[RAMP]["ttft"])
    assert set(summary["metrics_by_phase"]["stop"]) == {"ttft", "connect"}
    widened = build_summary(_record(include_ramp=True))
    assert widened["metrics"]["ttft"]["count"] == 4 and widened["include_ramp"] is True


def test_merging_leaves_the_record_untouched() -> None:
    record = _record()
    merged = merged_histograms(record.histograms, reported_phases(True))
    assert merged["ttft"].total_count == 4 and record.histograms[RAMP]["ttft"].total_count == 1
    assert merged_counters(record.counters, [RAMP, STEADY])["turns_sent"] == 13
    assert reported_phases(False) == (STEADY,)


def test_delivery_connects_and_counters_over_all_phases() -> None:
    summary = build_summary(_record())
    delivery = summary["delivery"]
    assert summary["counters"]["turns_sent"] == 13 and summary["counters"]["turns_completed"] == 10
    assert delivery["failed"] == {"timeout": 1, "error": 1, "incomplete": 0, "seq_gap": 0, "empty": 0}
    assert delivery["unaccounted"] == 0  # 13 sent = 10 completed + 2 failed + 1 cancelled
    assert "by_process" not in delivery  # an in-process run: the total is its one process
    assert delivery["delivery_ratio"] == round(10 / 12, 6) and delivery["turns_cancelled"] == 1
    assert delivery["connects"] == 5 and delivery["connect_success_ratio"] == 0.8
    assert delivery["connect_failed_by_kind"] == {"refused": 1}
    assert delivery["uptime_ratio"] is None and delivery["continuity_ratio"] is None  # no WebSocket session
    assert summary["token_count_method"] == "usage"


def test_goodput_counts_the_reported_phases_and_divides_by_turns_that_ended() -> None:
    goodput = build_summary(_record())["goodput"]
    # steady: 6 good of 8 completed + 2 failed; 10 s of steady state
    assert goodput == {"limits_ms": {"ttft": 50.0}, "turns_good": 6, "per_s": 0.6, "ratio": 0.6, "turns_completed": 8}
    widened = build_summary(_record(include_ramp=True))["goodput"]
    assert widened["turns_good"] == 7 and widened["per_s"] == round(7 / 13, 3) and widened["ratio"] == round(7 / 12, 6)
    assert build_summary(_record(turn_limits_ms={}))["goodput"] == {
        "limits_ms": {},
        "turns_good": None,
        "per_s": None,
        "ratio": None,
    }


def test_self_check_and_target_read_the_steady_seconds() -> None:
    summary = build_summary(_record())
    check, target = summary["self_check"], summary["target"]
    assert check["client_cpu_max"] == 20.0 and check["client_cpu_mean"] == 15.0  # not the ramp's 99
    assert check["client_rss_per_session_kb"] == 5120.0  # (80 - 60) MB * 1024 / 4 sessions
    assert check["client_lag_p99_ms"] == 2.0 and check["saturated"] is False
    assert target["rss_per_session_kb"] == 512.0 and target["rss_mb_idle"] == 50.0
    assert target["sessions_max"] == 4 and target["source"] == "pid 7"
    assert summary["sessions"] == {"peak": 4}  # every second


def test_saturation_is_judged_and_warned_about() -> None:
    hot = [SecondSample(STEADY, second=3, sessions=1, turns_completed=4, client_cpu=SATURATION_CPU_PERCENT + 1)]
    summary = build_summary(_record(seconds=hot, warnings=("ramp: slow",)))
    assert summary["self_check"]["saturated"] is True and summary["self_check"]["starved"] is False
    message = (
        "client saturated: latencies inflated (CPU mean 86% > 85%); "
        "0.0% of turns measured in untrusted seconds (0 of 1 seconds)"
    )
    assert summary["self_check"]["message"] == message
    assert summary["warnings"] == ["ramp: slow", message]


def _starved_seconds() -> list[SecondSample]:
    """Ten steady seconds at 7% client CPU and lag p99 well under 10 ms; in three of them the
    client waited 3 ms for a core each time it ran (two CPU burners beside it)."""
    seconds = [SecondSample(RAMP, second=0, turns_completed=40, client_lag_max_ms=120.0)]
    for second in range(1, 11):
        late = second in (4, 5, 9)
        seconds.append(
            SecondSample(
                STEADY,
                second=second,
                sessions=4,
                turns_completed=20,
                client_cpu=7.0,
                client_lag_max_ms=9.0,
                client_runq_ms=420.0 if late else 20.0,
                client_runq_delay_ms=3.0 if late else 0.1,
                machine_cpu=100.0 if late else 40.0,
            )
        )
    return seconds


def test_a_client_starved_of_cores_is_saturated_though_its_own_cpu_was_low() -> None:
    summary = build_summary(_record(seconds=_starved_seconds()))
    check = summary["self_check"]
    assert check["client_cpu_mean"] == 7.0 and check["client_lag_p99_ms"] == 2.0  # the old checks pass
    assert check["untrusted_seconds"] == [4, 5, 9]  # steady seconds only: not the ramp's second 0
    assert check["untrusted_turns"] == 60 and check["untrusted_turn_share"] == 0.3
    assert check["starved"] is True and check["saturated"] is True
    assert check["client_runq_ms_max"] == 420.0 and check["client_runq_ms_mean"] == 140.0
    assert check["client_runq_delay_ms_max"] == 3.0 and check["machine_cpu_max"] == 100.0
    assert check["machine_cpu_mean"] == 58.0 and check["client_lag_max_ms"] == 9.0
    assert check["message"] == (
        "client saturated: latencies inflated (starved: over 5% of turns in untrusted seconds, waits for a core"
        " up to 3 ms a run and 420 ms/s, machine CPU up to 100%); 30.0% of turns measured in untrusted seconds"
        " (3 of 10 seconds)"
    )
    assert check["thresholds"] == {
        "cpu_percent": 85.0,
        "lag_p99_ms": 10.0,
        "untrusted_lag_max_ms": 100.0,
        "untrusted_runq_delay_ms": 1.0,
        "starved_turn_share": 0.05,
        "stall_ms": 200.0,
    }
    assert summary["warnings"][-1] == check["message"]


def test_a_quiet_client_says_the_share_too() -> None:
    quiet = [s for s in _starved_seconds() if s.second not in (4, 5, 9)]
    check = build_summary(_record(seconds=quiet))["self_check"]
    assert check["saturated"] is False and check["untrusted_seconds"] == [] and check["untrusted_turn_share"] == 0.0
    assert check["message"] == "client not saturated; 0.0% of turns measured in untrusted seconds (0 of 7 seconds)"


def test_clamped_and_late_intervals_are_warned_about() -> None:
    clamped = _hist(1000, -5)
    summary = build_summary(_record(histograms={STEADY: {"ttft": clamped}}, late_intervals=2))
    assert summary["clamped"] == {"ttft": 1}
    assert summary["warnings"][0].startswith("values below 0 or above 1 h were clamped into range: {'ttft': 1}")
    assert summary["warnings"][1].startswith("2 intervals arrived after their second was written")


def test_a_turn_counted_nowhere_is_visible_overall_and_per_process() -> None:
    counters = {STEADY: {"turns_sent": 5, "turns_completed": 3, "failed_empty": 1}}
    processes = {
        "w1": {"turns_sent": 3, "turns_completed": 2, "failed_empty": 1},
        "w2": {"turns_sent": 2, "turns_completed": 1},
    }
    summary = build_summary(_record(counters=counters, processes=processes))
    delivery = summary["delivery"]
    assert delivery["unaccounted"] == 1 and delivery["failed"]["empty"] == 1
    assert delivery["by_process"] == {
        "w1": {"turns_sent": 3, "turns_completed": 2, "turns_failed": 1, "turns_cancelled": 0, "unaccounted": 0},
        "w2": {"turns_sent": 2, "turns_completed": 1, "turns_failed": 0, "turns_cancelled": 0, "unaccounted": 1},
    }
    assert "1 turns sent were counted neither completed, failed nor cancelled" in summary["warnings"]
    assert "load process w2: 1 turns sent were not counted" in summary["warnings"]


def test_a_rebuilt_record_states_only_what_the_time_series_holds() -> None:
    summary = build_summary(_record(complete=False, failed_turns=2, partial_reason="killed"))
    assert summary["partial"] is True and summary["partial_reason"] == "killed"
    assert {"clamped", "token_count_method", "goodput"} & set(summary) == set()
    assert summary["counters"] == {"turns_sent": 13, "turns_completed": 10, "tokens": 0}
    assert summary["delivery"] == {
        "turns_sent": 13,
        "turns_completed": 10,
        "turns_failed": 2,
        "delivery_ratio": round(10 / 12, 6),
    }
    assert summary["metrics"]["recovery"]["count"] == 2


def test_the_summary_is_json_in_schema_order(tmp_path: Any) -> None:
    summary = build_summary(_record())
    write_summary(tmp_path / "summary.json", summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == json.loads(json.dumps(summary))
    assert list(summary)[:3] == ["schema_version", "rtbench_version", "scenario"]
    assert list(summary)[-4:] == ["versions", "warnings", "events", "pid"]
    assert summary["events"] == [{"t": 105.0, "kind": "worker_crash", "detail": "worker process 1 exited"}]


def test_error_codes_merged_from_workers_stay_bounded_in_the_summary() -> None:
    codes = {f"error_frame_worker{w}_code{n}": 1 + n for w in range(3) for n in range(ERROR_CODES_KEPT)}
    steady = {"turns_sent": 10, "failed_error": 10, "error_frame_seq_gap": 1, **codes}
    counters = build_summary(_record(counters={STEADY: steady}))["counters"]
    named = [name for name in counters if name.startswith("error_frame_")]
    assert len(named) == ERROR_CODES_KEPT + 2  # the most counted, seq_gap, and other
    assert counters["error_frame_seq_gap"] == 1
    assert sum(counters[name] for name in named) == 1 + sum(codes.values())
