"""A master and `rtbench worker` processes on loopback, as they would run on several machines.

The workers keep their own copy of every interval they ship (`--hlog-dir`), so the master's merge
is checked offline against the workers' own logs.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.live_runs import wait_for_steady
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
    # remote workers are told to stop and flush too: every turn they sent is accounted for
    delivery = summary["delivery"]
    assert delivery["unaccounted"] == 0, delivery
    assert len(delivery["by_process"]) == 3
    assert all(process["unaccounted"] == 0 for process in delivery["by_process"].values()), delivery

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


def _rows(tmp_path: Path) -> dict[int, dict[str, str]]:
    """The master's time series by second (seconds no tick fell in have no gauges: left out)."""
    with open(tmp_path / "bundle" / "timeseries.csv", newline="") as f:
        return {int(r["time"]): r for r in csv.DictReader(f) if r["users"]}


def _resume_and_kill(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
            proc.communicate()


def test_a_worker_that_dies_is_reported_and_its_users_go_to_the_other(tmp_path: Path, server: LocalServer) -> None:
    port = worker_port()
    master = start_master(
        tmp_path, server, port, 2, "--users", "20", "--spawn-rate", "20", "--duration", "16s", "--think-time", "0.5s"
    )
    workers: list[subprocess.Popen[str]] = []
    try:
        time.sleep(1.0)
        workers = [start_worker(port) for _ in range(2)]
        wait_for_steady(tmp_path / "bundle", master, seconds=2)
        killed_at = time.time()
        os.kill(workers[0].pid, signal.SIGKILL)
        (master_code, master_err), *_ = finish([master, *workers])
    finally:
        _resume_and_kill([master, *workers])
    assert master_code == 3, master_err
    summary = json.loads((tmp_path / "bundle" / "summary.json").read_text())
    assert summary["partial"] is True
    assert summary["partial_reason"] == f"lost 1 of 2 workers: worker {socket.gethostname()} (pid {workers[0].pid})"
    assert any("stopped sending heartbeats" in w for w in summary["warnings"]), summary["warnings"]
    assert "stopped sending heartbeats" in master_err
    (lost,) = [e for e in summary["events"] if e["kind"] == "worker_lost"]
    assert killed_at + 2.0 <= lost["t"] <= killed_at + 6.0, lost["t"] - killed_at
    # its 10 users go to the other worker, which alone holds all 20 users and sessions afterwards
    assert "its 10 users go to the other worker" in lost["detail"]
    rows = _rows(tmp_path)
    assert min(int(r["sessions"]) for t, r in rows.items() if int(lost["t"]) - 1 <= t <= int(lost["t"])) <= 10
    after = [r for t, r in sorted(rows.items()) if t >= int(lost["t"]) + 3 and r["phase"] == "steady"]
    assert len(after) >= 2, rows
    assert all(int(r["users"]) == 20 and int(r["sessions"]) == 20 for r in after), after
    assert summary["delivery"]["turns_completed"] > 50


def test_a_stopped_worker_that_resumes_adds_nothing_to_the_merge(tmp_path: Path, server: LocalServer) -> None:
    """Stopped for 6 s, it is lost after 3; resumed, it stops itself, and the turns it held while
    stopped (each about 6 s long) are not merged: they ran while its users ran elsewhere too."""
    port = worker_port()
    master = start_master(
        tmp_path, server, port, 2, "--users", "20", "--spawn-rate", "20", "--duration", "16s", "--think-time", "0.1s"
    )
    workers: list[subprocess.Popen[str]] = []
    try:
        time.sleep(1.0)
        workers = [start_worker(port) for _ in range(2)]
        wait_for_steady(tmp_path / "bundle", master, seconds=2)
        os.kill(workers[0].pid, signal.SIGSTOP)
        time.sleep(6.0)
        os.kill(workers[0].pid, signal.SIGCONT)
        resumed_at = time.monotonic()
        code, err = finish([workers[0]], timeout=5.0)[0]
        assert time.monotonic() - resumed_at < 5.0
        (master_code, master_err), *_ = finish([master, workers[1]])
    finally:
        _resume_and_kill([master, *workers])
    assert code == 3, err
    assert "worker: the master counted this worker as lost" in err or "worker: no heartbeat from the master" in err
    assert master_code == 3, master_err
    summary = json.loads((tmp_path / "bundle" / "summary.json").read_text())
    assert summary["partial_reason"].startswith("lost 1 of 2 workers: worker "), summary["partial_reason"]
    assert all(int(r["users"]) <= 20 and int(r["sessions"]) <= 20 for r in _rows(tmp_path).values())
    for phase, metrics in summary["metrics_by_phase"].items():
        assert metrics["e2e"]["max"] < 1000.0, (phase, metrics["e2e"])


def test_workers_stop_within_5_s_when_the_master_is_killed(tmp_path: Path, server: LocalServer) -> None:
    port = worker_port()
    master = start_master(
        tmp_path, server, port, 2, "--users", "10", "--spawn-rate", "10", "--duration", "60s", "--think-time", "0.5s"
    )
    workers: list[subprocess.Popen[str]] = []
    try:
        time.sleep(1.0)
        workers = [start_worker(port) for _ in range(2)]
        wait_for_steady(tmp_path / "bundle", master, seconds=1)
        os.kill(master.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        results = finish(workers, timeout=5.0)
        assert time.monotonic() - killed_at < 5.0
    finally:
        _resume_and_kill([master, *workers])
    assert [code for code, _ in results] == [3, 3], results
    assert all("worker: no heartbeat from the master" in err for _, err in results), results
