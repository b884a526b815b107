"""Every sent turn is counted exactly once: sent = completed + failed (every kind) + cancelled.

Whole `rtbench run` subprocesses against the real reference server, ended each way a run can end
with turns in flight: a server slower than the run, a target killed with SIGKILL, two worker
processes, and Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from support.runs import RTBENCH, run_scenario, scenario_text

from rtbench.local_server import LocalServer


def assert_every_turn_counted(summary: dict[str, Any]) -> dict[str, Any]:
    """The invariant, exactly, and the bundle's own check of it (`delivery.unaccounted`)."""
    d = summary["delivery"]
    failed = sum(d["failed"].values())
    assert d["turns_sent"] == d["turns_completed"] + failed + d["turns_cancelled"], d
    assert d["unaccounted"] == 0, d
    assert d["turns_sent"] > 0, d
    for kind, n in d["failed"].items():  # every failed turn keeps its reason
        assert sum(c for key, c in d["failed_reasons"].items() if key.startswith(f"{kind}: ")) == n, d
    return d


def wait_for_rows(proc: subprocess.Popen[str], out: Path, rows: int, timeout: float = 40.0) -> None:
    """Until the run's time series has `rows` data rows (the load is running)."""
    csv = out / "timeseries.csv"
    deadline = time.monotonic() + timeout
    while not csv.exists() or len(csv.read_text().splitlines()) <= rows:
        assert time.monotonic() < deadline, f"no {rows} time series rows after {timeout:g} s"
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)


def start_run(tmp_path: Path, body: str, *extra: str) -> tuple[subprocess.Popen[str], Path]:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(body)
    out = tmp_path / "bundle"
    cmd = [*RTBENCH, "run", str(scenario), "--out", str(out), *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), out


def finish(proc: subprocess.Popen[str], timeout: float = 60.0) -> tuple[int, str]:
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, stdout + stderr


def test_a_server_slower_than_the_run_has_its_turns_in_flight_cancelled(tmp_path: Path) -> None:
    """TTFT 4 s, 3 s of steady state, 0.3 s of stop grace, no think time: the turns still waiting
    at the stop are cancelled, and `success` (completed / (sent - cancelled)) is not lowered by
    turns that were never counted."""
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\nsuccess = [">= 99%"]\n')
    with LocalServer(("--ttft-ms", "4000", "--itl-ms", "5", "--tokens", "3")) as server:
        body = scenario_text(server.ws_url, users=4, duration="3s", think_time="0s")
        result, summary = run_scenario(
            tmp_path, body.replace("[prompts]", 'stop_grace = "0.3s"\n[prompts]'), "--slo", str(slo)
        )
    d = assert_every_turn_counted(summary)
    assert d["turns_cancelled"] >= 4, d  # each user had one in flight at the stop
    assert sum(d["failed"].values()) == 0, d
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_a_target_killed_mid_run_leaves_no_turn_uncounted(tmp_path: Path) -> None:
    """SIGKILL of the target during a 20-user run (with --target-pid: the run stops, partial)."""
    with LocalServer(("--ttft-ms", "300", "--itl-ms", "10", "--tokens", "10")) as server:
        body = scenario_text(server.ws_url, users=20, duration="20s", think_time="0.1s")
        proc, out = start_run(tmp_path, body, "--target-pid", str(server.pid))
        try:
            wait_for_rows(proc, out, 4)
            os.kill(server.pid, signal.SIGKILL)
            code, output = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 3, output[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is True
    d = assert_every_turn_counted(summary)
    assert d["turns_completed"] > 0, d
    # the turns the kill cut off: failed as incomplete, or cancelled when the stop came first
    assert d["failed"]["incomplete"] + d["turns_cancelled"] > 0, d
    cut_off = {"incomplete: connection_lost", "incomplete: closed_by_server", "incomplete: session_lost"}
    assert set(d["failed_reasons"]) <= cut_off, d  # the connection ended; no reconnect brought it back


def test_two_workers_count_their_turns_in_flight(tmp_path: Path) -> None:
    """--workers 2 with turns always in flight (TTFT 2 s, no think time): each worker counts its
    turns in flight as cancelled before its last shipment."""
    with LocalServer(("--ttft-ms", "2000", "--itl-ms", "5", "--tokens", "3")) as server:
        body = scenario_text(server.ws_url, users=10, duration="2s", think_time="0s")
        result, summary = run_scenario(
            tmp_path, body.replace("[prompts]", 'stop_grace = "0.3s"\n[prompts]'), "--workers", "2"
        )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    d = assert_every_turn_counted(summary)
    assert d["turns_cancelled"] >= 10, d  # every user had one in flight at the stop
    by_process = d["by_process"]
    assert len(by_process) == 2, d
    for counts in by_process.values():
        assert counts["unaccounted"] == 0 and counts["turns_cancelled"] >= 1, by_process
    assert sum(c["turns_sent"] for c in by_process.values()) == d["turns_sent"], d


def test_ctrl_c_counts_the_turns_in_flight_as_cancelled(tmp_path: Path) -> None:
    """SIGINT to `rtbench run` (1 s of grace) while 20 users wait 20 s for their first tokens:
    every user has its first turn in flight."""
    with LocalServer(("--ttft-ms", "20000", "--itl-ms", "5", "--tokens", "3")) as server:
        body = scenario_text(server.ws_url, users=20, duration="60s", think_time="0s")
        proc, out = start_run(tmp_path, body)
        try:
            wait_for_rows(proc, out, 4)
            os.kill(proc.pid, signal.SIGINT)
            code, output = finish(proc)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 3, output[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial_reason"] == "interrupted"
    d = assert_every_turn_counted(summary)
    assert d["turns_sent"] == d["turns_cancelled"] == 20, d
