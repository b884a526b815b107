"""`rtbench run` as a subprocess that a test disturbs mid-run (kills it, a worker or the target).

    proc = start_run(tmp_path / "bundle", server.ws_url, "--users", "10")
    try:
        wait_for_steady(tmp_path / "bundle", proc, seconds=2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        stop_run(proc)

Importing Locust monkey-patches the standard library, so runs never happen inside pytest.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["SCENARIO", "start_run", "output", "wait_for_steady", "stop_run", "worker_pids"]

#: A scenario with one SLO, so a report has something to judge.
SCENARIO = """
[scenario]
name = "live"
[load]
stop_grace = "1s"        # turns cut by a dead target need not be waited for
[prompts]
texts = ["Tell me about tail latency.", "What is a WebSocket?"]
[slo]
ttft = ["p95 < 100ms"]
"""
WAIT_S = 60.0


def start_run(out: Path, target: str, *extra: str) -> subprocess.Popen[str]:
    """`rtbench run` of SCENARIO against `target` into `out` (output kept in files beside it)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scenario = out.parent / f"{out.name}-scenario.toml"
    scenario.write_text(SCENARIO)
    cmd = [sys.executable, "-m", "rtbench.cli", "run", str(scenario), "--target", target, "--out", str(out), *extra]
    with open(out.parent / f"{out.name}-output.txt", "w") as log:  # the child keeps its own copy
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)


def output(out: Path) -> str:
    """What the run printed so far (stdout and stderr)."""
    return (out.parent / f"{out.name}-output.txt").read_text()


def _rows(out: Path) -> list[dict[str, str]]:
    try:
        with open(out / "timeseries.csv", newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def wait_for_steady(out: Path, proc: subprocess.Popen[str], seconds: int) -> None:
    """Wait until the time series holds `seconds` steady-phase rows with completed turns."""
    deadline = time.monotonic() + WAIT_S
    while True:
        steady = [
            r for r in _rows(out) if r.get("phase") == "steady" and r.get("turns_completed") not in ("", "0", None)
        ]
        if len(steady) >= seconds:
            return
        assert proc.poll() is None, f"rtbench exited early ({proc.returncode}): {output(out)}"
        assert time.monotonic() < deadline, f"no {seconds} steady seconds within {WAIT_S:g} s: {output(out)}"
        time.sleep(0.1)


def stop_run(proc: subprocess.Popen[str], timeout: float = 90.0) -> int:
    """Wait for the run to end (SIGKILL by its PID after `timeout`); its exit code."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def worker_pids(proc: subprocess.Popen[str]) -> list[int]:
    """The Locust worker processes the run started (its children running rtbench.load.distributed.worker)."""
    import psutil

    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        pids = [c.pid for c in children if "rtbench.load.distributed.worker" in " ".join(c.cmdline())]
        if pids:
            return pids
        time.sleep(0.1)
    raise AssertionError("no worker process found")
