"""The run-queue and machine-CPU samplers: parsing fed by hand, rates on a fake clock, one
reading of this process's real /proc files; then whole runs with and without two CPU burners."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.clock import FakeClock
from support.runs import RTBENCH, scenario_text

from rtbench.load.starvation import (
    CpuTimes,
    MachineCpuSampler,
    RunQueueSampler,
    SchedStat,
    busy_percent,
    parse_proc_stat,
    parse_schedstat,
    run_queue_wait,
    worst,
)
from rtbench.local_server import LocalServer

#: A real /proc/stat head (kernel 6.18): user nice system idle iowait irq softirq steal guest guest_nice.
PROC_STAT = """cpu  1028091 1053 86701 1117741 5902 0 14214 79199 0 0
cpu0 514000 500 43000 558000 3000 0 7000 39000 0 0
intr 1234
"""


def test_schedstat_fields_are_cpu_time_run_queue_wait_and_timeslices() -> None:
    assert parse_schedstat("2585778 1200 7\n") == SchedStat(cpu_ns=2585778, wait_ns=1200, slices=7)
    assert SchedStat(1, 2, 3) + SchedStat(10, 20, 30) == SchedStat(11, 22, 33)
    with pytest.raises(ValueError):
        parse_schedstat("12 34")
    with pytest.raises(ValueError):
        parse_schedstat("a b c")


def test_proc_stat_busy_is_everything_but_idle_and_iowait_steal_included() -> None:
    times = parse_proc_stat(PROC_STAT)
    total = 1028091 + 1053 + 86701 + 1117741 + 5902 + 0 + 14214 + 79199  # guest is inside user
    assert times == CpuTimes(busy=total - 1117741 - 5902, total=total)
    assert parse_proc_stat("cpu 10 0 5 85\n") == CpuTimes(busy=15, total=100)  # an old kernel's 4 fields
    with pytest.raises(ValueError):
        parse_proc_stat("cpu0 1 2 3 4\n")


def test_run_queue_wait_per_second_and_per_run() -> None:
    before = SchedStat(cpu_ns=0, wait_ns=1_000_000, slices=10)
    after = SchedStat(cpu_ns=50_000_000, wait_ns=301_000_000, slices=110)  # 300 ms of wait over 100 runs
    wait = run_queue_wait(before, after, wall_s=2.0)
    assert wait.ms_per_s == 150.0 and wait.delay_ms == 3.0
    # waiting the whole interval without running once: the wait is one delay
    stuck = run_queue_wait(before, SchedStat(0, 501_000_000, 10), wall_s=0.5)
    assert stuck.ms_per_s == 1000.0 and stuck.delay_ms == 500.0
    assert run_queue_wait(after, after, wall_s=0.0).ms_per_s == 0.0


def test_machine_busy_percent_of_all_cores() -> None:
    assert busy_percent(CpuTimes(100, 1000), CpuTimes(250, 1200)) == 75.0
    assert busy_percent(CpuTimes(100, 1000), CpuTimes(100, 1000)) is None  # no tick between readings
    assert busy_percent(CpuTimes(100, 1000), CpuTimes(400, 1200)) == 100.0  # counters are not atomic


def test_samplers_rate_the_files_between_samples() -> None:
    files = {"/proc/9/schedstat": "0 0 0", "/proc/stat": "cpu 0 0 0 100 0 0 0 0\n"}

    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    clock = FakeClock(10.0)
    run_queue = RunQueueSampler(9, read=read, clock=clock)
    machine = MachineCpuSampler(read=read)
    files.update({"/proc/9/schedstat": "5000000 40000000 20", "/proc/stat": "cpu 30 0 10 160 0 0 0 0\n"})
    clock.advance(0.5)
    wait = run_queue.sample()
    assert wait is not None and wait.ms_per_s == 80.0 and wait.delay_ms == 2.0
    assert machine.sample() == 40.0  # 40 busy jiffies of 100
    del files["/proc/9/schedstat"]  # the process is gone, or schedstats are off
    assert run_queue.sample() is None


def test_worst_is_the_largest_known_value() -> None:
    assert worst([None, 3.0, 7.5, None]) == 7.5
    assert worst([None]) is None and worst([]) is None


def test_this_process_reads_its_own_files() -> None:
    if not os.path.exists(f"/proc/{os.getpid()}/schedstat"):
        pytest.skip("no /proc/PID/schedstat here")
    run_queue = RunQueueSampler()
    threads = RunQueueSampler(threads=True)
    machine = MachineCpuSampler()
    sum(i * i for i in range(300_000))  # a few ms of CPU, so the jiffies move
    wait, all_threads, busy = run_queue.sample(), threads.sample(), machine.sample()
    assert wait is not None and wait.ms_per_s >= 0.0 and wait.delay_ms >= 0.0
    assert all_threads is not None and all_threads.ms_per_s >= 0.0
    assert busy is None or 0.0 <= busy <= 100.0


# -- real runs ------------------------------------------------------------------------------------

#: TTFT 30 ms, ITL 5 ms, 10 tokens: a turn every 0.5 s for each of 50 sessions, about 100 turns/s.
SERVER_FLAGS = ("--ttft-ms", "30", "--itl-ms", "5", "--tokens", "10")
#: A process that keeps one core busy: pinned to core N, it spins until killed.
BURNER = "import os\nos.sched_setaffinity(0, {%d})\nwhile True:\n    pass\n"


#: How long the burners run once the ramp is done: the 4 s of steady state, and a little more.
STARVED_S = 5.0


def _short_run(tmp_path: Path, burners: int, nice: int = 0) -> tuple[int, str, dict[str, Any]]:
    """50 paced sessions for 4 s of steady state with --strict, the load generator at `nice`,
    beside `burners` CPU-burning children (one per core). The burners start once the server holds
    every session (the ramp is done) and are killed by PID `STARVED_S` later, so that the start-up,
    the stop and the report run on a free machine (under the burners they took 100 s): the steady
    state alone is starved, which is what the flag is about. Exit code, output, summary."""
    cores = sorted(os.sched_getaffinity(0))
    spinning: list[subprocess.Popen[bytes]] = []
    try:
        with LocalServer(SERVER_FLAGS) as server:
            (tmp_path / "scenario.toml").write_text(
                scenario_text(server.ws_url, users=50, duration="4s", think_time="0.5s")
            )
            out = tmp_path / "bundle"
            cmd = [*RTBENCH, "run", str(tmp_path / "scenario.toml"), "--out", str(out), "--strict", "--seed", "1"]
            with subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=lambda: os.nice(nice)
            ) as run:
                deadline = time.monotonic() + 90
                if burners:
                    assert _wait_for_sessions(server.base_url, 50, run, deadline), "the run never held its 50 sessions"
                    spinning.extend(
                        subprocess.Popen(
                            [sys.executable, "-c", BURNER % cores[i % len(cores)]], stdin=subprocess.DEVNULL
                        )
                        for i in range(burners)
                    )
                    starved_until = time.monotonic() + STARVED_S
                    while run.poll() is None and time.monotonic() < starved_until:
                        time.sleep(0.1)
                    _stop(spinning)
                while run.poll() is None and not (out / "summary.json").exists() and time.monotonic() < deadline:
                    time.sleep(0.1)
                output, _ = run.communicate(timeout=120)
            return run.returncode, " ".join(output.split()), json.loads((out / "summary.json").read_text())
    finally:
        _stop(spinning)


def _wait_for_sessions(base_url: str, sessions: int, run: subprocess.Popen[str], deadline: float) -> bool:
    """Whether the server at `base_url` came to hold `sessions` sessions before the run ended or
    `deadline`, waiting for it."""
    while run.poll() is None and time.monotonic() < deadline:
        with urllib.request.urlopen(base_url + "/metrics", timeout=5) as response:
            text = response.read().decode()
        held = sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(("rtref_sessions_open ", "rtref_sessions_open{"))
        )
        if held >= sessions:
            return True
        time.sleep(0.1)
    return False


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.mark.quiet  # needs a machine not already busy: two burners of its own, and no others
def test_a_run_beside_two_cpu_burners_is_flagged_starved(tmp_path: Path) -> None:
    """The load generator loses the cores to two burners: its own CPU stays low, its figures are
    late. It runs at nice 10: at nice 0 the scheduler (EEVDF) often, not always, runs a process
    that sleeps this much as soon as it wakes, and then its figures are right and, rightly, nothing
    is flagged (1 run in 8 here)."""
    code, output, summary = _short_run(tmp_path, burners=2, nice=10)
    check = summary["self_check"]
    assert check["client_cpu_mean"] < 85.0, check  # its own CPU says nothing is wrong
    assert check["saturated"] and check["starved"] and check["untrusted_seconds"], check
    assert check["untrusted_turn_share"] > 0.05 and check["machine_cpu_max"] > 90.0, check
    assert "% of turns measured in untrusted seconds" in check["message"]
    assert code == 3, output  # --strict, though the scenario has no SLO
    assert "INVALID: load generator saturated: client saturated: latencies inflated (" in output
    assert "% of turns measured in untrusted seconds (" in output


@pytest.mark.quiet  # on a busy machine the run is rightly flagged: only a quiet one can pass this
def test_the_same_run_on_a_quiet_machine_is_trusted(tmp_path: Path) -> None:
    code, output, summary = _short_run(tmp_path, burners=0)
    check = summary["self_check"]
    assert not check["starved"] and not check["saturated"], check
    assert check["untrusted_turn_share"] is not None and check["untrusted_turn_share"] <= 0.05, check
    assert code == 0, output
