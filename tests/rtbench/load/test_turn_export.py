"""--export-turns with 2 worker processes against the reference server: every sent turn is in
turns.jsonl exactly once, its statuses add up to the delivery counters, and rows reach the file
while the run goes on (a crash or Ctrl-C loses none already written)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

from support.runs import RTBENCH, scenario_text

from rtbench.local_server import LocalServer


def test_two_workers_export_every_turn_once_and_the_statuses_add_up(tmp_path: Path) -> None:
    # 580 ms turns, no think time and a 50 ms stop grace: turns end completed, failed (injected
    # errors), and cancelled at the stop
    flags = ("--ttft-ms", "30", "--itl-ms", "50", "--tokens", "12", "--error-rate", "0.05")
    with LocalServer(flags) as server:
        scenario = tmp_path / "s.toml"
        scenario.write_text(
            scenario_text(server.ws_url, "", users=6, duration="3s", think_time="0s").replace(
                "[prompts]", 'stop_grace = "50ms"\n[prompts]'
            )
        )
        out = tmp_path / "bundle"
        cmd = [*RTBENCH, "run", str(scenario), "--out", str(out), "--workers", "2", "--export-turns"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rows_while_running = 0
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            if not (out / "summary.json").exists() and (out / "turns.jsonl").exists():
                rows_while_running = max(rows_while_running, (out / "turns.jsonl").read_text().count("\n"))
            time.sleep(0.2)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout[-2000:] + stderr
    assert rows_while_running > 0  # written as the workers report, before the run ended
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "turns.jsonl").read_text().splitlines()]
    delivery = summary["delivery"]
    keys = [(row["worker"], row["turn_id"]) for row in rows]
    assert len(set(keys)) == len(keys) == delivery["turns_sent"]  # each sent turn exactly once
    assert len({row["worker"] for row in rows}) == 2
    statuses = Counter(row["status"] for row in rows)
    assert statuses["completed"] == delivery["turns_completed"]
    assert statuses["failed"] == sum(delivery["failed"].values()) > 0
    assert statuses["cancelled"] == delivery["turns_cancelled"] > 0
    failed = Counter(f"{row['failure_kind']}: {row['failure_reason']}" for row in rows if row["status"] == "failed")
    assert dict(failed) == delivery["failed_reasons"]
    for row in rows:
        assert summary["started_at"] <= row["sent_at"] <= summary["ended_at"], row
        assert row["planned_at"] is None and "prompt" not in row  # closed loop; no content unless asked
    completed = [row for row in rows if row["status"] == "completed"]
    assert all(row["e2e_ms"] >= row["ttft_ms"] >= 30.0 and row["output_tokens"] == 12 for row in completed)
    assert all(row["input_tokens"] == 2 for row in completed)  # "hello there", by the usage block


def test_ctrl_c_mid_run_leaves_a_row_for_every_sent_turn(tmp_path: Path) -> None:
    """SIGINT while turns are in flight: the partial bundle's turns.jsonl still holds one row per
    sent turn, those in flight past the 1 s grace as cancelled, as its delivery counts them. Turns
    take 5.7 s: rows reach the file once a second and the stop starts at the next tick, so the turns
    sent after the first ones ended are still in flight when the grace ends (2.7 s turns were not,
    now and then, and none was cancelled)."""
    with LocalServer(("--ttft-ms", "20", "--itl-ms", "300", "--tokens", "20")) as server:  # 5.7 s turns
        scenario = tmp_path / "s.toml"
        scenario.write_text(scenario_text(server.ws_url, users=5, duration="60s", think_time="0s"))
        out = tmp_path / "bundle"
        cmd = [*RTBENCH, "run", str(scenario), "--out", str(out), "--export-turns"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not (out / "turns.jsonl").exists() or (out / "turns.jsonl").read_text().count("\n") < 5:
                assert time.monotonic() < deadline and proc.poll() is None, "no rows written"
                time.sleep(0.1)
            os.kill(proc.pid, signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 3, stdout[-2000:] + stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial_reason"] == "interrupted"
    delivery = summary["delivery"]
    rows = [json.loads(line) for line in (out / "turns.jsonl").read_text().splitlines()]
    assert len({row["turn_id"] for row in rows}) == len(rows) == delivery["turns_sent"]
    statuses = Counter(row["status"] for row in rows)
    assert statuses["completed"] == delivery["turns_completed"] > 0
    assert statuses["cancelled"] == delivery["turns_cancelled"] > 0
