"""Lost local workers, on real processes: `rtbench run --workers 2` against the reference server,
with one worker stopped (SIGSTOP) or killed (SIGKILL) mid-run, or the master killed.

Every process a test starts or finds is ended by its PID at the end, a stopped one continued first.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support.live_runs import output, start_run, stop_run, wait_for_steady
from support.server import ServerHandle, running_server

USERS = 20
SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "10")
#: A worker silent for 3 s is lost at the next tick (1 s); the rest is slack for a loaded machine.
SILENT_DETECTION_S = (2.0, 6.0)
#: A worker that exits is seen at the next tick.
EXIT_DETECTION_S = 2.5
#: Workers whose master is gone stop within this.
ORPHAN_S = 5.0
#: After the loss, the other worker holds every user within this.
HAND_OVER_S = 3


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server(*SERVER_FLAGS) as handle:
        yield handle


def _start(out: Path, server: ServerHandle, duration: str = "16s") -> subprocess.Popen[str]:
    users = str(USERS)
    return start_run(
        out,
        server.ws_url,
        *("--users", users, "--spawn-rate", users, "--duration", duration, "--think-time", "200ms"),
        *("--workers", "2"),
    )


def _workers(proc: subprocess.Popen[str], count: int = 2) -> list[int]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        children = psutil.Process(proc.pid).children()
        pids = [c.pid for c in children if "rtbench.load.distributed.worker" in " ".join(c.cmdline())]
        if len(pids) == count:
            return pids
        time.sleep(0.1)
    raise AssertionError(f"not {count} worker processes: {output(Path())}")


def _gone(pid: int) -> bool:
    """Exited (a zombie no one has reaped yet counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@contextlib.contextmanager
def _cleanup(pids: list[int]) -> Iterator[None]:
    """End every process in `pids` (filled in by the test) on the way out, stopped ones too."""
    try:
        yield
    finally:
        for pid in pids:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "timeseries.csv", newline="") as f:
        return list(csv.DictReader(f))


def _check_loss(out: Path, kind: str, victim: int, at: float, window: tuple[float, float]) -> None:
    """One `kind` event for `victim` in `window` after `at`; the run partial for it; its gauges
    gone at once; then the other worker holding every user and session."""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial"] is True
    assert summary["partial_reason"] == f"lost 1 of 2 workers: worker process {victim}"
    events = [e for e in summary["events"] if e["kind"].startswith("worker_")]
    assert [e["kind"] for e in events] == [kind], events
    seen = events[0]["t"]
    assert at + window[0] <= seen <= at + window[1], (seen - at, events)
    assert f"worker process {victim}" in events[0]["detail"]
    assert "go to the other worker" in events[0]["detail"]
    # the turns the lost worker had sent and never reported the end of are cancelled with it
    delivery = summary["delivery"]
    assert delivery["unaccounted"] == 0, delivery
    assert summary["counters"].get("turns_lost_with_worker", 0) <= delivery["turns_cancelled"], delivery

    rows = {int(r["time"]): r for r in _rows(out) if r["users"]}  # a second no tick fell in has no gauges
    before = [r for t, r in sorted(rows.items()) if t < int(at)][-1]
    assert int(before["sessions"]) == USERS and int(before["users"]) == USERS, before
    # the second it is lost (the tick that saw it may have begun in the second before the event's
    # stamp), its sessions and users leave the merged gauges
    lost = [r for t, r in rows.items() if int(seen) - 1 <= t <= int(seen)]
    assert min(int(r["sessions"]) for r in lost) <= USERS // 2, lost
    assert min(int(r["users"]) for r in lost) <= USERS // 2, lost
    # then the other worker takes its users: it alone holds all of them
    after = [r for t, r in sorted(rows.items()) if t >= int(seen) + HAND_OVER_S and r["phase"] == "steady"]
    assert len(after) >= 2, rows
    assert all(int(r["users"]) == USERS and int(r["sessions"]) == USERS for r in after), after


def test_a_stopped_worker_is_lost_within_seconds_and_its_users_go_to_the_other(
    tmp_path: Path, server: ServerHandle
) -> None:
    out = tmp_path / "stopped"
    proc = _start(out, server)
    pids = [proc.pid]
    with _cleanup(pids):
        pids += _workers(proc)
        victim = pids[1]
        wait_for_steady(out, proc, seconds=2)
        stopped_at = time.time()
        os.kill(victim, signal.SIGSTOP)
        code = stop_run(proc)
        assert _gone(victim)  # the master killed the stopped worker: it cannot come back with its users
    assert code == 3, output(out)
    _check_loss(out, "worker_lost", victim, stopped_at, SILENT_DETECTION_S)
    assert f"worker process {victim} stopped sending heartbeats" in output(out)


def test_a_killed_worker_is_lost_at_once_and_its_users_go_to_the_other(tmp_path: Path, server: ServerHandle) -> None:
    out = tmp_path / "killed"
    proc = _start(out, server)
    pids = [proc.pid]
    with _cleanup(pids):
        pids += _workers(proc)
        victim = pids[1]
        wait_for_steady(out, proc, seconds=2)
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        code = stop_run(proc)
    assert code == 3, output(out)
    _check_loss(out, "worker_crash", victim, killed_at, (0.0, EXIT_DETECTION_S))
    summary = json.loads((out / "summary.json").read_text())
    assert "killed by signal 9" in summary["events"][0]["detail"]


def test_workers_stop_within_5_s_when_the_master_is_killed(tmp_path: Path, server: ServerHandle) -> None:
    out = tmp_path / "orphans"
    proc = _start(out, server, duration="60s")
    pids = [proc.pid]
    with _cleanup(pids):
        workers = _workers(proc)
        pids += workers
        wait_for_steady(out, proc, seconds=1)
        assert server.metrics()["rtref_sessions_open"] == USERS
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        proc.wait()
        while not all(_gone(pid) for pid in workers):
            assert time.monotonic() - killed_at < ORPHAN_S, [(pid, _gone(pid)) for pid in workers]
            time.sleep(0.05)
        # nothing of theirs is left loading the target: the server sees every session closed
        while server.metrics()["rtref_sessions_open"] > 0:
            assert time.monotonic() - killed_at < ORPHAN_S, server.metrics()["rtref_sessions_open"]
            time.sleep(0.05)
