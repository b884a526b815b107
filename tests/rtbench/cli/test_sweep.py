"""`rtbench sweep` against the reference server, whose generation slots put the knee where it is known.

With K = 2 slots, a turn holds one for S = ttft + (tokens - 1) * itl = 20 + 9 * 10 = 110 ms. With
no think time, 1 user sends 1 / S = 9 turns/s, 2 users twice that, and 4 users no more than 2
(K / S = 18 turns/s): their turns wait for a slot, and TTFT grows by most of S. The knee is 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtbench.local_server import LocalServer
from rtbench.report.charts import PNG_SIGNATURE

SCENARIO = """
[scenario]
name = "knee"
[target]
url = "{url}"
[load]
users = 1
spawn_rate = 10
think_time = "0s"
[prompts]
texts = ["hello"]
"""
SLOTS = ("--slots", "2", "--ttft-ms", "20", "--itl-ms", "10", "--tokens", "10")
SWEEP = [sys.executable, "-m", "rtbench.cli", "sweep"]


@pytest.mark.quiet
def test_a_sweep_finds_the_knee_of_two_generation_slots(tmp_path: Path) -> None:
    with LocalServer(SLOTS) as server:
        scenario = tmp_path / "knee.toml"
        scenario.write_text(SCENARIO.format(url=server.ws_url))
        out = tmp_path / "sweep"
        cmd = [*SWEEP, str(scenario), "--users", "1,2,4", "--duration", "3s", "--out", str(out)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads((out / "sweep.json").read_text())
    steps = {step["load"]: step for step in outcome["steps"]}
    assert list(steps) == [1, 2, 4] and outcome["knee"] == 2, outcome
    assert steps[2]["requests_per_s"] > 1.5 * steps[1]["requests_per_s"], outcome
    assert steps[4]["requests_per_s"] < 1.1 * steps[2]["requests_per_s"], outcome
    assert 14 <= steps[2]["requests_per_s"] <= 19, outcome  # 2 / 110 ms = 18.2 turns/s
    assert steps[4]["ttft_p50"] > steps[2]["ttft_p50"] + 50, outcome  # waits for a slot
    assert all((out / step["bundle"] / "summary.json").exists() for step in outcome["steps"])
    assert "knee: 2 users" in result.stdout and "requests/s" in result.stdout
    assert (out / "sweep.png").read_bytes().startswith(PNG_SIGNATURE)
    page = (out / "sweep.html").read_text()
    assert outcome["line"] in page and 'id="sweep-steps"' in page


def test_ctrl_c_keeps_the_steps_done_and_writes_their_table(tmp_path: Path) -> None:
    with LocalServer(("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "5")) as server:
        scenario = tmp_path / "s.toml"
        scenario.write_text(SCENARIO.format(url=server.ws_url))
        out = tmp_path / "sweep"
        cmd = [*SWEEP, str(scenario), "--users", "1,2,3", "--requests", "20", "--out", str(out)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not (out / "step-02.log").exists():  # the first step is done, the second started
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 3, stdout + stderr
    outcome = json.loads((out / "sweep.json").read_text())
    assert [step["load"] for step in outcome["steps"]] == [1] and outcome["stopped"] == "interrupted"
    assert outcome["steps"][0]["turns"] == 20 and outcome["steps"][0]["requests_per_s"] > 0
    assert "sweep stopped early: interrupted" in " ".join(stdout.split())
    assert (out / "sweep.html").exists() and (out / "sweep.png").exists()


def test_sweep_help_describes_every_option() -> None:
    result = subprocess.run(
        [*SWEEP, "--help"], capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}
    )
    assert result.returncode == 0, result.stderr
    for option in ("--users", "--rate", "--arrival", "--duration", "--requests", "--slo", "--target", "--workers"):
        assert option in result.stdout
    assert "knee" in result.stdout and "sweep.json" in result.stdout
