"""`--requests N` / `--conversations N`: whole `rtbench run` subprocesses against the real reference
server send exactly N turns (or conversations), split over one or two load processes, and end by
themselves once all have ended; a run stopped early says how much of N it did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.runs import run_scenario, scenario_text
from support.server import ServerHandle


def _stop_s(summary: dict[str, Any]) -> float:
    stop = summary["phases"]["stop"]
    return float(stop["end"] - stop["start"])


@pytest.mark.parametrize("workers", [1, 2])
def test_exactly_n_turns_are_sent_and_ended(tmp_path: Path, reference_server: ServerHandle, workers: int) -> None:
    """41 turns (an odd number, for two processes) from 4 users with no think time: every one sent,
    every one completed and in the figures (the ramp's too), and the run ends without waiting out
    its 5 s stop grace."""
    body = scenario_text(reference_server.ws_url, users=4, think_time="0s")
    body = body.replace('duration = "3s"', 'stop_grace = "5s"')  # no duration: the 1 h safety limit
    result, summary = run_scenario(tmp_path, body, "--requests", "41", "--workers", str(workers))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    d = summary["delivery"]
    assert (d["turns_sent"], d["turns_completed"], d["turns_cancelled"]) == (41, 41, 0), d
    assert summary["metrics"]["ttft"]["count"] == 41 and summary["include_ramp"]
    assert not summary["partial"]
    assert summary["config"]["requests"] == 41 and summary["config"]["duration"] == 3600.0
    assert _stop_s(summary) < 2.0, summary["phases"]


def test_n_conversations_are_held_to_their_end(tmp_path: Path, reference_server: ServerHandle) -> None:
    """5 conversations of 3 turns from 2 users: 15 turns, 5 conversations started and ended."""
    body = scenario_text(reference_server.ws_url, users=2, think_time="0s", tables="[conversation]\nturns = 3\n")
    body = body.replace('duration = "3s"', "")
    result, summary = run_scenario(tmp_path, body, "--conversations", "5")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    counters = summary["counters"]
    assert (counters["conversations_started"], counters["conversations_ended"]) == (5, 5), counters
    assert summary["delivery"]["turns_sent"] == summary["delivery"]["turns_completed"] == 15


def test_a_run_stopped_by_its_safety_limit_says_how_much_was_done(
    tmp_path: Path, reference_server: ServerHandle
) -> None:
    body = scenario_text(reference_server.ws_url, users=2, think_time="0s")
    result, summary = run_scenario(tmp_path, body, "--requests", "1000", "--duration", "2s")
    assert result.returncode == 3, result.stdout[-2000:] + result.stderr[-2000:]
    reason = summary["partial_reason"]
    assert reason.startswith("the safety limit of 2 s was reached (") and reason.endswith(" of 1,000 requests done)")
    done = int(reason.split("(")[1].split(" of ")[0].replace(",", ""))
    d = summary["delivery"]
    assert 0 < done == d["turns_completed"] + sum(d["failed"].values()) < 1000
