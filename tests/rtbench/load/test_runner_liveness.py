"""A target that dies mid-run is seen without `--target-pid`: real `rtbench run` processes against a
real reference server killed with SIGKILL (in one load process and with two workers), one killed
and restarted within `[target] down_after`, and a planned outage from `[faults]`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.live_runs import output, start_run, stop_run, wait_for_steady

from rtbench.bundle.events import EVENT_KINDS
from rtbench.local_server import LocalServer
from rtbench.report.frames import load_bundle
from rtbench.report.timeline import event_marks, events_section, partial_banner

SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
LOAD = ("--users", "10", "--spawn-rate", "10", "--think-time", "200ms")
DOWN_AFTER_S = 5.0  # [target] down_after's default
#: The check runs once a tick (1 s), on counters that reach the master about a second late.
DETECTION_SLACK_S = 3.0


def _summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text())  # type: ignore[no-any-return]


def _kill(server: LocalServer) -> float:
    killed_at = time.time()
    os.kill(server.pid, signal.SIGKILL)
    server.stop()  # reaps it
    return killed_at


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_target_killed_without_its_pid_ends_the_run_partial(tmp_path: Path, workers: str) -> None:
    out = tmp_path / "bundle"
    with LocalServer(SERVER_FLAGS) as server:
        proc = start_run(out, server.ws_url, *LOAD, "--duration", "60s", "--workers", workers)
        try:
            wait_for_steady(out, proc, seconds=2)
            killed_at = _kill(server)
            code = stop_run(proc)
        finally:
            stop_run(proc)
    assert code == 3, output(out)
    summary = _summary(out)
    assert summary["partial"] is True and summary["partial_reason"] == "target stopped answering"
    events = [e for e in summary["events"] if e["kind"] == "target_down"]
    assert len(events) == 1, summary["events"]
    assert killed_at + DOWN_AFTER_S <= events[0]["t"] <= killed_at + DOWN_AFTER_S + DETECTION_SLACK_S
    assert "connection attempts failed" in events[0]["detail"]
    assert summary["ended_at"] - killed_at < DOWN_AFTER_S + DETECTION_SLACK_S + 5  # stopped, not 60 s
    assert "INVALID: partial bundle: target stopped answering" in output(out)
    # on the report's timeline: listed with its meaning, marked on the charts, and in the banner
    bundle = load_bundle(out)
    assert [kind for _, kind in event_marks(bundle)] == ["target_down"]
    html = events_section(bundle)
    assert f"<td>target_down</td><td>{events[0]['detail']}</td>" in html and EVENT_KINDS["target_down"] in html
    assert "target stopped answering" in partial_banner(bundle)


def test_a_target_restarted_within_the_window_is_not_down(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    lenient = tmp_path / "slo.toml"  # the verdict here is on the target's life, not its latency
    lenient.write_text('[slo]\nttft = "p95 < 10s"\n')
    with LocalServer(SERVER_FLAGS) as server:
        proc = start_run(out, server.ws_url, *LOAD, "--duration", "10s", "--slo", str(lenient))
        restarted = LocalServer(SERVER_FLAGS, port=server.port)
        try:
            wait_for_steady(out, proc, seconds=2)
            killed_at = _kill(server)
            time.sleep(1.0)
            restarted.start()
            back_at = time.time()
            code = stop_run(proc)
        finally:
            stop_run(proc)
            restarted.stop()
    assert back_at - killed_at < DOWN_AFTER_S - 1
    assert code == 0, output(out)
    summary = _summary(out)
    assert summary["partial"] is False, summary["partial_reason"]
    assert [e for e in summary["events"] if e["kind"] == "target_down"] == []
    assert summary["delivery"]["recovery"]["drops"] >= 10  # every session did go down


PLANNED = """
[scenario]
name = "planned"
[target]
url = "ws://127.0.0.1:1/ws"
connect_timeout = "1s"
down_after = "2s"
[load]
users = 4
spawn_rate = 4
duration = "7s"
think_time = "0.2s"
stop_grace = "1s"
[prompts]
texts = ["hi"]
[server]
ttft_ms = 20
itl_ms = 5
tokens = 5
[faults]
kill_after = "1s"
"""


def test_a_planned_outage_is_not_a_dead_target(tmp_path: Path) -> None:
    """Killed by `[faults]` for good, 1 s into a 7 s steady state: far longer than `down_after`."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(PLANNED)
    out = tmp_path / "bundle"
    cmd = [sys.executable, "-m", "rtbench.cli", "run", str(scenario), "--serve", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = _summary(out)
    kinds = [e["kind"] for e in summary["events"]]
    assert kinds == ["target_killed"] and summary["partial"] is False
    assert summary["config"]["down_after"] == 2.0
    assert summary["delivery"]["connect_failed_by_kind"].get("refused", 0) > 0  # reconnects were refused
