"""Benchmark plumbing: one `rtbench run` against a fresh reference server, with the server watched.

`measure_point(point)` starts `python -m reference_server --procs 2` (TTFT 50 ms, ITL 10 ms,
20 tokens), writes a paced scenario TOML, runs the `rtbench` CLI as a child process with
`--target-pid`, polls the server's `/metrics` from a thread of this process (so the client under
test pays nothing for it), and returns the figures of the bundle's `summary.json` and
`timeseries.csv` together with the server's own first-token scheduling error over the steady
phase (`rtref_send_lateness_seconds{frame="first"}`).

The same thread also samples the machine's CPU time and the client's `/proc/PID/schedstat` (time
on a CPU and time spent runnable but waiting for one): on a small machine the server and the
client compete for cores, and the waiting shows it. With `pin=True` the server runs on CPU 0 and
the client on CPU 1, so the client has one core to itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.parser import text_string_to_metric_families

from rtbench.bundle.timeseries import read_timeseries
from rtbench.local_server import LocalServer

__all__ = ["Point", "PointResult", "SERVER_FLAGS", "TTFT_MS", "measure_point", "lateness_quantiles", "pinnable"]

TTFT_MS = 50.0
SERVER_FLAGS = ("--procs", "2", "--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
RTBENCH = Path(sys.executable).with_name("rtbench")
LATENESS = "rtref_send_lateness_seconds"
POLL_S = 0.5
RUN_SLACK_S = 120.0
Snapshot = dict[tuple[str, str], float]
SERVER_CPU, CLIENT_CPU = 0, 1


@dataclass(frozen=True)
class Point:
    """One run: `sessions` users, each sending a prompt every `sessions / rate` s (pacing)."""

    sessions: int
    rate: float
    steady_s: float = 20.0
    spawn_rate: float = 1000.0
    workers: int = 1
    seed: int = 1

    @property
    def think_s(self) -> float:
        return self.sessions / self.rate


@dataclass(frozen=True)
class PointResult:
    """What one run measured; latencies in ms, CPU in percent of one core."""

    point: Point
    summary: dict[str, Any]
    achieved_rate: float
    server_first_late_ms: dict[float, float]
    server_first_late_n: int
    bundle: Path
    #: over the steady phase: all cores' busy time in % of the machine, and the client's time on
    #: a CPU and runnable-but-waiting, each in % of one core (from /proc/PID/schedstat)
    machine_busy_pct: float
    client_oncpu_pct: float
    client_wait_pct: float

    def metric(self, name: str, key: str) -> float | None:
        value = self.summary["metrics"].get(name, {}).get(key)
        return None if value is None else float(value)

    @property
    def self_check(self) -> dict[str, Any]:
        return dict(self.summary["self_check"])

    @property
    def target(self) -> dict[str, Any]:
        return dict(self.summary["target"])

    @property
    def others_pct(self) -> float:
        """CPU used by neither the client nor the server (other processes on the machine), in %
        of one core: on a shared machine, runs where this is high are disturbed."""
        server = self.target["cpu_percent_mean"]
        if server is None:
            return float("nan")
        return max(0.0, self.machine_busy_pct * (os.cpu_count() or 1) - self.client_oncpu_pct - server)


def scenario_toml(point: Point, url: str) -> str:
    return f"""[scenario]
name = "accuracy-{point.sessions}-{point.rate:g}"

[target]
url = "{url}"
protocol = "native"
connect_timeout = "20s"
turn_timeout = "30s"

[load]
users = {point.sessions}
spawn_rate = {point.spawn_rate:g}
duration = "{point.steady_s:g}s"
think_time = "{point.think_s:.6f}s"
pacing = true
workers = {point.workers}

[prompts]
texts = ["Explain tail latency to a new engineer."]
"""


class MetricsPoller:
    """Snapshots of the server's `/metrics` (per-label samples), the machine's CPU times and the
    client's scheduler times, with their wall-clock times."""

    def __init__(self, url: str, every_s: float = POLL_S) -> None:
        self.url = url
        self.every_s = every_s
        self.client_pid: int | None = None
        self.snapshots: list[tuple[float, Snapshot]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MetricsPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2.0) as response:
                    text = response.read().decode()
            except OSError:
                text = ""
            if text:
                samples = _samples(text)
                samples.update(_machine_cpu())
                if self.client_pid is not None:
                    samples.update(_schedstat_tree(self.client_pid))
                self.snapshots.append((time.time(), samples))
            self._stop.wait(self.every_s)

    def window(self, start: float, end: float) -> tuple[float, Snapshot, Snapshot]:
        """Seconds between, and the first snapshot at or after `start` and the last at or before
        `end` (the server flushes its counters every 0.5 s: exact to about half a second)."""
        inside = [(t, s) for t, s in self.snapshots if start <= t <= end]
        if len(inside) < 2:
            raise RuntimeError(f"fewer than two /metrics snapshots within the steady phase ({len(inside)})")
        return inside[-1][0] - inside[0][0], inside[0][1], inside[-1][1]


def _machine_cpu() -> Snapshot:
    """CPU seconds of all cores: in all, and busy (Linux counts guest time inside user time)."""
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    return {("machine_busy_s", ""): total - idle, ("machine_all_s", ""): total}


def _schedstat_tree(pid: int) -> Snapshot:
    """Seconds on a CPU and seconds runnable but waiting, summed over `pid` and its children."""
    oncpu = wait = 0.0
    try:
        pids = [pid] + [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        pids = [pid]
    for each in pids:
        try:
            with open(f"/proc/{each}/schedstat") as f:
                run_ns, wait_ns, _ = f.read().split()
        except (OSError, ValueError):
            continue
        oncpu += int(run_ns) / 1e9
        wait += int(wait_ns) / 1e9
    return {("client_oncpu_s", ""): oncpu, ("client_wait_s", ""): wait}


def pinnable() -> bool:
    """Whether this machine has the CPUs 0 and 1 that `pin=True` uses."""
    return hasattr(os, "sched_setaffinity") and {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


def _pin_tree(pid: int, cpu: int) -> None:
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        process.cpu_affinity([cpu])


def _delta_pct(before: Snapshot, after: Snapshot, key: str, seconds: float) -> float:
    if (key, "") not in after or seconds <= 0:
        return float("nan")
    return 100.0 * (after[(key, "")] - before.get((key, ""), 0.0)) / seconds


def _samples(text: str) -> Snapshot:
    samples: Snapshot = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[(sample.name, labels)] = sample.value
    return samples


def lateness_quantiles(
    before: Snapshot,
    after: Snapshot,
    frame: str,
    quantiles: tuple[float, ...] = (0.50, 0.95, 0.99),
) -> tuple[int, dict[float, float]]:
    """Observations in the window and, per quantile, the upper bound (ms) of the bucket holding
    it: the server's scheduling error is at or below that bound."""
    buckets: list[tuple[float, float]] = []
    for (name, labels), value in after.items():
        if name == LATENESS + "_bucket" and f"frame={frame}" in labels.split(","):
            le = dict(part.split("=", 1) for part in labels.split(","))["le"]
            buckets.append((float(le), value - before.get((name, labels), 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    bounds = {}
    for q in quantiles:
        bounds[q] = next((1000.0 * le for le, count in buckets if total and count >= q * total), float("nan"))
    return int(total), bounds


def _steady_rate(bundle: Path) -> float:
    rows = [r for r in read_timeseries(bundle / "timeseries.csv") if r["phase"] == "steady"]
    return sum(float(r["turns_sent"] or 0) for r in rows) / len(rows) if rows else 0.0


def measure_point(point: Point, out_dir: Path, log: Any = None, pin: bool = False) -> PointResult:
    """Run `point` against a fresh server; the bundle goes to `out_dir`. With `pin`, the server
    is bound to CPU 0 and the client to CPU 1."""
    with LocalServer(SERVER_FLAGS) as server, MetricsPoller(server.base_url + "/metrics") as poller:
        if pin:
            _pin_tree(server.pid, SERVER_CPU)
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(scenario_toml(point, server.ws_url))
        scenario = Path(f.name)
        cmd = [
            str(RTBENCH),
            "run",
            str(scenario),
            "--out",
            str(out_dir),
            "--target-pid",
            str(server.pid),
            "--seed",
            str(point.seed),
        ]
        timeout = point.sessions / point.spawn_rate + point.steady_s + RUN_SLACK_S
        pin_client = (lambda: os.sched_setaffinity(0, {CLIENT_CPU})) if pin else None
        try:
            with subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=pin_client,
            ) as client:
                poller.client_pid = client.pid
                output, _ = client.communicate(timeout=timeout)
        finally:
            scenario.unlink(missing_ok=True)
    summary_file = out_dir / "summary.json"
    if not summary_file.is_file():
        raise RuntimeError(f"rtbench run wrote no summary (exit {client.returncode}):\n{output[-2000:]}")
    summary = json.loads(summary_file.read_text())
    if log is not None and client.returncode != 0:
        log(f"  rtbench run exited {client.returncode}: {output.strip().splitlines()[-1:]}")
    steady = summary["phases"]["steady"]
    seconds, before, after = poller.window(steady["start"], steady["end"])
    n, late = lateness_quantiles(before, after, "first")
    all_s = after[("machine_all_s", "")] - before[("machine_all_s", "")]
    machine = _delta_pct(before, after, "machine_busy_s", all_s)
    return PointResult(
        point,
        summary,
        _steady_rate(out_dir),
        late,
        n,
        out_dir,
        machine,
        _delta_pct(before, after, "client_oncpu_s", seconds),
        _delta_pct(before, after, "client_wait_s", seconds),
    )
