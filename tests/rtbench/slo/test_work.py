"""A run that did no work: no session connected, or no turn completed."""

from __future__ import annotations

from typing import Any

from rtbench.slo.work import no_work


def test_a_run_with_completed_turns_did_work(summary: dict[str, Any]) -> None:
    assert no_work(summary) is None
    assert no_work({"metrics": {}}) is None  # type: ignore[typeddict-item]  # no delivery: no claim


def test_no_session_connected_names_the_failed_attempts(summary: dict[str, Any]) -> None:
    summary["delivery"].update(turns_completed=0, turns_sent=0, connect_failed=61)
    summary["delivery"]["connect_failed_by_kind"] = {"handshake": 61}
    summary["counters"]["connect_ok"] = 0
    summary["sessions"]["peak"] = 0
    assert no_work(summary) == "no session connected: 61 connection attempts failed (handshake 61)"


def test_no_turn_completed_names_the_failures(summary: dict[str, Any]) -> None:
    summary["delivery"].update(turns_completed=0, turns_sent=50)
    summary["delivery"]["failed"] = {"timeout": 0, "error": 48, "incomplete": 2, "seq_gap": 0}
    assert no_work(summary) == "no turn completed of 50 sent (failed: error 48, incomplete 2)"
    summary["delivery"]["turns_sent"] = 0
    assert no_work(summary) == "no turn completed: none was sent"


def test_a_killed_runs_rebuilt_summary_is_read_too() -> None:
    """A rebuilt summary has a delivery of turns only, and the time series' counters."""
    rebuilt = {"delivery": {"turns_sent": 0, "turns_completed": 0}, "counters": {}, "sessions": {"peak": 0}}
    assert no_work(rebuilt) == "no session connected: 0 connection attempts failed"  # type: ignore[arg-type]
    rebuilt["sessions"] = {"peak": 3}
    assert no_work(rebuilt) == "no turn completed: none was sent"  # type: ignore[arg-type]
