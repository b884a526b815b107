"""Samplers that see a starved load process: its run-queue wait and the whole machine's CPU.

A load process whose own CPU is low can still be late: when other processes hold the cores, it
is runnable but waits for one, and every frame it times in that wait is measured late. Linux
counts that wait per task in `/proc/PID/schedstat` (fields: CPU time ns, run-queue wait ns,
timeslices run). `/proc/PID/schedstat` is the process's main thread, the one that runs the gevent
hub and so every greenlet that times a turn; `threads=True` sums `/proc/PID/task/*/schedstat`
instead (Locust's ZeroMQ thread included).

`/proc/stat`'s first line gives the machine's CPU in jiffies. Busy is everything but `idle` and
`iowait`: `steal` (a hypervisor's other guests) counts as busy, since no process here could use it.

Both samplers return None where the files do not exist (not Linux, schedstats off).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "SchedStat",
    "CpuTimes",
    "parse_schedstat",
    "parse_proc_stat",
    "RunQueueWait",
    "run_queue_wait",
    "busy_percent",
    "RunQueueSampler",
    "MachineCpuSampler",
    "worst",
]

Clock = Callable[[], float]
Reader = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class SchedStat:
    """One task's (or the sum over tasks') scheduler counters."""

    cpu_ns: int
    #: Time runnable but waiting for a core (the run-queue wait), ns.
    wait_ns: int
    slices: int

    def __add__(self, other: SchedStat) -> SchedStat:
        return SchedStat(self.cpu_ns + other.cpu_ns, self.wait_ns + other.wait_ns, self.slices + other.slices)


@dataclass(frozen=True, slots=True)
class CpuTimes:
    """The machine's CPU time since boot, in jiffies, over all cores."""

    busy: int
    total: int


def parse_schedstat(text: str) -> SchedStat:
    """`/proc/PID/schedstat`'s "cpu_ns wait_ns slices" line; ValueError if malformed."""
    fields = text.split()
    if len(fields) < 3:
        raise ValueError(f"schedstat: expected 3 fields, got {text!r}")
    return SchedStat(int(fields[0]), int(fields[1]), int(fields[2]))


def parse_proc_stat(text: str) -> CpuTimes:
    """The aggregate `cpu` line of `/proc/stat`; ValueError if there is none.

    Total is user + nice + system + idle + iowait + irq + softirq + steal (guest time is already
    in user and nice); busy is total minus idle and iowait.
    """
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            values = [int(v) for v in fields[1:9]]
            if len(values) < 4:
                raise ValueError(f"/proc/stat: short cpu line {line!r}")
            values += [0] * (8 - len(values))
            total = sum(values)
            return CpuTimes(busy=total - values[3] - values[4], total=total)
    raise ValueError("/proc/stat: no aggregate cpu line")


@dataclass(frozen=True, slots=True)
class RunQueueWait:
    """How long a process waited for a core between two readings."""

    #: Run-queue wait per second of wall time, ms (1000 = runnable without a core all along).
    ms_per_s: float
    #: Mean wait each time it was put on a core (a wake-up or the end of a preemption), ms: how
    #: late, on average, it handled what woke it.
    delay_ms: float


def run_queue_wait(before: SchedStat, after: SchedStat, wall_s: float) -> RunQueueWait:
    """The wait between two readings of one process. With no timeslice run in between, the whole
    wait counts as one delay."""
    wait_ms = max(after.wait_ns - before.wait_ns, 0) / 1e6
    slices = max(after.slices - before.slices, 1)
    return RunQueueWait(wait_ms / wall_s if wall_s > 0 else 0.0, wait_ms / slices)


def busy_percent(before: CpuTimes, after: CpuTimes) -> float | None:
    """Percent of every core busy between two readings (100 = the whole machine); None when no
    time passed."""
    total = after.total - before.total
    if total <= 0:
        return None
    return min(max(100.0 * (after.busy - before.busy) / total, 0.0), 100.0)


def worst(values: Iterable[float | None]) -> float | None:
    """The largest known value (gauges merged over load processes), None when none is known."""
    return max((v for v in values if v is not None), default=None)


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


class RunQueueSampler:
    """A process's run-queue wait since the previous sample (None if unknown)."""

    __slots__ = ("pid", "threads", "_read", "_clock", "_last", "_wall_s")

    def __init__(
        self, pid: int | None = None, *, threads: bool = False, read: Reader = _read, clock: Clock = time.monotonic
    ) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.threads = threads
        self._read = read
        self._clock = clock
        self._last = self._stat()
        self._wall_s = clock()

    def _stat(self) -> SchedStat | None:
        try:
            if not self.threads:
                return parse_schedstat(self._read(f"/proc/{self.pid}/schedstat"))
            total = SchedStat(0, 0, 0)
            for tid in os.listdir(f"/proc/{self.pid}/task"):
                try:
                    total += parse_schedstat(self._read(f"/proc/{self.pid}/task/{tid}/schedstat"))
                except FileNotFoundError:  # a thread that ended since the listing
                    continue
            return total
        except (OSError, ValueError):
            return None

    def sample(self) -> RunQueueWait | None:
        now, stat = self._clock(), self._stat()
        before, wall_s = self._last, now - self._wall_s
        self._last, self._wall_s = stat, now
        if before is None or stat is None:
            return None
        return run_queue_wait(before, stat, wall_s)


class MachineCpuSampler:
    """The machine's CPU percent of all cores since the previous sample (None if unknown)."""

    __slots__ = ("_read", "_last")

    def __init__(self, read: Reader = _read) -> None:
        self._read = read
        self._last = self._times()

    def _times(self) -> CpuTimes | None:
        try:
            return parse_proc_stat(self._read("/proc/stat"))
        except (OSError, ValueError):
            return None

    def sample(self) -> float | None:
        times = self._times()
        before, self._last = self._last, times
        if before is None or times is None:
            return None
        return busy_percent(before, times)
