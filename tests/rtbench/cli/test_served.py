"""`rtbench run --serve` with `[server]` options and a planned kill and restart from `[faults]`."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

SCENARIO = """
[scenario]
name = "served"
[target]
url = "ws://127.0.0.1:1/ws"
connect_timeout = "2s"
[load]
users = 6
spawn_rate = 6
duration = "10s"
think_time = "0.3s"
[prompts]
texts = ["hi"]
[server]
ttft_ms = 20
itl_ms = 5
tokens = 5
[faults]
kill_after = "3s"
restart_after = "2s"
"""


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_serve_kills_and_restarts_the_server_on_schedule(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "bundle"
    result = subprocess.run(
        [sys.executable, "-m", "rtbench.cli", "run", str(scenario), "--serve", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is False
    events = {e["kind"]: e["t"] for e in summary["events"]}
    assert 1.9 <= events["target_restarted"] - events["target_killed"] <= 4.0, events
    steady_start = summary["phases"]["steady"]["start"]
    assert 2.5 <= events["target_killed"] - steady_start <= 4.5
    assert summary["config"]["server"] == {"ttft_ms": 20, "itl_ms": 5, "tokens": 5}
    rows = list(csv.DictReader((out / "timeseries.csv").open()))
    after = [int(r["turns_completed"] or 0) for r in rows if float(r["time"]) > events["target_restarted"] + 1]
    assert sum(after) > 10  # the users came back to the restarted server
    assert "planned fault: SIGKILL" in result.stdout + result.stderr
    pids = [int(e["detail"].rsplit("pid ", 1)[1].rstrip(")")) for e in summary["events"]]
    assert len(pids) == 2 and not any(psutil.pid_exists(pid) for pid in pids)  # both servers are gone


def test_faults_without_serve_warn(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    result = subprocess.run(
        [sys.executable, "-m", "rtbench.cli", "run", str(scenario), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3  # the scenario's own target is unreachable
    assert "[faults] apply only when rtbench starts the server (--serve)" in result.stderr
