"""A master and `rtbench worker` processes on loopback, as they would run on several machines.

The workers keep their own copy of every interval they ship (`--hlog-dir`), so the master's merge
is checked offline against the workers' own logs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.ports import worker_port

from rtbench.bundle.hlog import read_hlog
from rtbench.local_server import LocalServer
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms

RTBENCH = [sys.executable, "-m", "rtbench.cli"]
SCENARIO = """
[scenario]
name = "distributed"
[prompts]
texts = ["Tell me about tail latency."]
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "10")) as s:
        yield s


def start_master(tmp_path: Path, server: LocalServer, port: int, workers: int, *extra: str) -> subprocess.Popen[str]:
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO)
    cmd = [
        *RTBENCH,
        "master",
        str(scenario),
        "--target",
        server.ws_url,
        "--expect-workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--out",
        str(tmp_path / "bundle"),
        "--worker-wait",
        "60s",
        *extra,
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_worker(port: int, hlog_dir: Path | None = None) -> subprocess.Popen[str]:
    cmd = [*RTBENCH, "worker", "--master", f"127.0.0.1:{port}"]
    if hlog_dir is not None:
        cmd += ["--hlog-dir", str(hlog_dir)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def finish(procs: list[subprocess.Popen[str]], timeout: float = 120) -> list[tuple[int, str]]:
    results = []
    for proc in procs:
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        results.append((proc.returncode, err or ""))
    return results


def merged(paths: list[Path], keep: callable = lambda second: True) -> LatencyHistogram:
    total = LatencyHistogram()
    for path in paths:
        for start, histogram in read_hlog(path):
            if keep(int(start)):
                total.add(histogram)
    return total


def test_master_and_three_workers_merge_exactly(tmp_path: Path, server: LocalServer) -> None:
    port = worker_port()
    master = start_master(
        tmp_path, server, port, 3, "--users", "60", "--spawn-rate", "60", "--duration", "5s", "--think-time", "0.5s"
    )
    time.sleep(1.0)
    workers = [start_worker(port, tmp_path / f"w{i}") for i in range(3)]
    (master_code, master_err), *worker_results = finish([master, *workers])
    assert master_code == 0, master_err
    assert all(code == 0 for code, _ in worker_results), worker_results
    summary = json.loads((tmp_path / "bundle" / "summary.json").read_text())
    assert summary["sessions"]["peak"] == 60

    logs = [tmp_path / f"w{i}" / "ttft.hlog" for i in range(3)]
    assert all(path.stat().st_size > 0 for path in logs)
    steady = summary["phases"]["steady"]
    in_steady = lambda second: second >= steady["start"] and second + 1 <= steady["end"]  # noqa: E731
    offline = summarize_ms(merged(logs, in_steady))
    assert offline == summary["metrics"]["ttft"]
    assert offline["count"] > 100
    everything = merged(logs).total_count
    by_phase = sum(phase["ttft"]["count"] for phase in summary["metrics_by_phase"].values() if phase.get("ttft"))
    assert everything == by_phase


def test_a_worker_that_dies_is_reported_and_the_run_goes_on(tmp_path: Path, server: LocalServer) -> None:
    port = worker_port()
    master = start_master(
        tmp_path, server, port, 2, "--users", "20", "--spawn-rate", "20", "--duration", "12s", "--think-time", "0.5s"
    )
    time.sleep(1.0)
    workers = [start_worker(port) for _ in range(2)]
    time.sleep(8.0)
    os.kill(workers[0].pid, signal.SIGKILL)
    (master_code, master_err), *_ = finish([master, *workers])
    assert master_code == 0, master_err
    summary = json.loads((tmp_path / "bundle" / "summary.json").read_text())
    assert summary["partial"] is False
    assert any("stopped sending heartbeats" in w for w in summary["warnings"]), summary["warnings"]
    assert "stopped sending heartbeats" in master_err
    assert summary["delivery"]["turns_completed"] > 50
