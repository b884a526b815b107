from __future__ import annotations

from rtbench.bundle.sections import (
    build_by_turn_section,
    build_clamped_section,
    build_conversation_section,
    build_delivery_section,
    build_metrics_section,
    build_recovery_section,
    token_count_method,
)
from rtbench.metrics.breakdowns import by_turn_metric
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms


def _hist(*values: float) -> LatencyHistogram:
    h = LatencyHistogram()
    for v in values:
        h.record(v)
    return h


def test_metrics_section_orders_canonical_metrics_first() -> None:
    totals = {"zeta": _hist(5), "e2e": _hist(2000), "ttft": _hist(1000, 3000), "connect": _hist(-5)}
    section = build_metrics_section(totals)
    assert list(section) == ["connect", "ttft", "e2e", "zeta"]
    assert section["ttft"] == summarize_ms(totals["ttft"])
    assert section["ttft"]["count"] == 2
    assert section["ttft"]["max"] == 3.001  # highest value equivalent to 3000 us
    assert build_clamped_section(totals) == {"connect": 1, "ttft": 0, "e2e": 0, "zeta": 0}


def test_by_turn_metrics_have_a_section_of_their_own() -> None:
    """ "ttft@3" is no metric of `metrics` (nor of the clamped counts): it is turn 3's ttft, keyed by
    turn in turn order ("10+" last, not between "1" and "2" as a sort by name would put it)."""
    totals = {
        "ttft": _hist(1000, 2000, 3000, 9000),
        by_turn_metric("e2e", 2): _hist(50_000),
        by_turn_metric("ttft", 12): _hist(9000, -5),
        by_turn_metric("ttft", 2): _hist(2000),
        by_turn_metric("tpot", 2): _hist(500),
        by_turn_metric("ttft", 1): _hist(1000),
        by_turn_metric("ttft", 9): _hist(3000),
    }
    assert list(build_metrics_section(totals)) == ["ttft"]
    assert build_clamped_section(totals) == {"ttft": 0}
    section = build_by_turn_section(totals)
    assert list(section) == ["1", "2", "9", "10+"]
    assert list(section["2"]) == ["ttft", "tpot", "e2e"]  # report order within a turn
    assert section["2"]["e2e"] == summarize_ms(totals["e2e@2"])
    assert section["10+"]["ttft"]["count"] == 2
    assert build_by_turn_section({"ttft": _hist(1000)}) == {}


def test_conversation_section_counts_zero_when_none_ran() -> None:
    counters = {"conversations_started": 3, "persona_switches": 2, "context_turns_dropped": 7, "turns_sent": 9}
    assert build_conversation_section(counters) == {
        "conversations_started": 3,
        "persona_switches": 2,
        "context_truncations": 0,
        "context_turns_dropped": 7,
    }
    assert set(build_conversation_section({}).values()) == {0}


def test_delivery_section() -> None:
    counters = {
        "turns_sent": 12,
        "turns_completed": 7,
        "turns_cancelled": 2,
        "failed_timeout": 1,
        "failed_seq_gap": 2,
        "failed_because_timeout.no_first_token": 1,
        "failed_because_seq_gap.seq_gap": 2,
        "connect_ok": 4,
    }
    assert build_delivery_section(counters) == {
        "turns_sent": 12,
        "turns_completed": 7,
        "turns_cancelled": 2,
        "turns_late": 0,
        "turns_resent": 0,
        "failed": {"timeout": 1, "error": 0, "incomplete": 0, "seq_gap": 2, "empty": 0},
        "failed_reasons": {"seq_gap: seq_gap": 2, "timeout: no_first_token": 1},
        "unaccounted": 0,  # 12 sent = 7 completed + 3 failed + 2 cancelled
        "delivery_ratio": 0.7,  # 7 of the 10 turns that ended
        **build_recovery_section(counters),
    }
    assert build_delivery_section({"turns_sent": 3})["delivery_ratio"] is None


def test_recovery_section() -> None:
    counters = {
        "session_us": 40_000_000,  # 4 sessions of 10 s
        "downtime_us": 1_250_000,
        "sessions_started": 6,
        "sessions_lost": 2,
        "session_drops": 4,
        "resumes_ok": 2,
        "resumes_failed": 2,
        "recovery_attempts": 5,
        "frames_duplicate": 3,
        "error_frame_seq_gap": 1,
    }
    assert build_recovery_section(counters) == {
        "uptime_ratio": 0.96875,  # 1 - 1.25 / 40
        "continuity_ratio": 0.666667,  # 4 of 6 conversations kept
        "duplicates": 3,
        "seq_gaps": 1,
        "recovery": {
            "drops": 4,
            "resumed": 2,
            "resume_failed": 2,
            "gave_up": 0,
            "attempts": 5,
            "sessions_started": 6,
            "sessions_lost": 2,
            "session_s": 40.0,
            "downtime_s": 1.25,
        },
    }


def test_recovery_ratios_are_null_without_sessions() -> None:
    """An HTTP run holds no session: no uptime or continuity to report (not 100%)."""
    section = build_recovery_section({"turns_sent": 5, "turns_completed": 5})
    assert section["uptime_ratio"] is None and section["continuity_ratio"] is None
    assert build_recovery_section({"session_us": 10, "sessions_started": 1})["uptime_ratio"] == 1.0


def test_token_count_method() -> None:
    assert token_count_method({}) == "none"
    assert token_count_method({"token_count_usage": 3}) == "usage"
    assert token_count_method({"token_count_frames": 1, "token_count_usage": 0}) == "frames"
    assert token_count_method({"token_count_frames": 1, "token_count_usage": 2}) == "mixed"
