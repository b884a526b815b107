"""Worker side: stop at once when the master is gone, or when it has given this worker up.

A worker whose master is gone must not go on loading the target. Locust's own worker waits 60 s
for the master's heartbeat; this watchdog ends the process after `MASTER_TIMEOUT_S` without one,
at once when the parent process that started it (the master of `rtbench run --workers K`) has
exited, and at once when the master says that it counted this worker as lost (`LOST`: the worker
was silent too long, its users run elsewhere now). The exit is immediate (`os._exit`): no user
greenlet sends another byte, and the kernel closes every connection.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import gevent
from locust.runners import STATE_CLEANUP, STATE_STOPPED, STATE_STOPPING

__all__ = ["LOST", "MASTER_TIMEOUT_S", "EXIT_MASTER_GONE", "MasterWatchdog"]

#: The master's message to a worker it has counted as lost.
LOST = "rtbench_lost"
#: Seconds without a master heartbeat (Locust's master answers each worker heartbeat, every 1 s).
MASTER_TIMEOUT_S = 3.0
CHECK_S = 0.5
#: A watchdog that wakes up this late was stalled with its process (stopped, starved): heartbeat
#: silence is then counted from the end of the stall, as the master's replies may wait unread.
STALL_S = 1.5
#: The exit code of a worker that stopped because of its master.
EXIT_MASTER_GONE = 3
#: Runner states in which the worker is already quitting as the master asked.
_QUITTING = (STATE_STOPPING, STATE_CLEANUP, STATE_STOPPED)


def _exit_now(reason: str) -> NoReturn:
    sys.stderr.write(f"worker: {reason}: stopping now\n")
    sys.stderr.flush()
    os._exit(EXIT_MASTER_GONE)


class MasterWatchdog:
    """Watches the master of one Locust `WorkerRunner` from a greenlet of that runner."""

    def __init__(
        self,
        runner: Any,
        parent_pid: int | None = None,
        timeout_s: float = MASTER_TIMEOUT_S,
        stop: Callable[[str], Any] = _exit_now,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._runner = runner
        self._parent_pid = parent_pid
        self._timeout_s = timeout_s
        self._stop = stop
        self._clock = clock
        self._floor = 0.0
        runner.register_message(LOST, self._on_lost)
        runner.greenlet.spawn(self._watch)

    def check(self, slept: float = CHECK_S) -> str | None:
        """Why this worker should stop now, or None. `slept`: how long the watchdog slept since its
        last check; much longer than asked means this process was stalled."""
        if slept > STALL_S:
            self._floor = self._clock()
        return self.reason()

    def reason(self) -> str | None:
        """Why this worker should stop now, or None."""
        runner = self._runner
        if runner.state in _QUITTING:
            return None  # the master's quit is being carried out
        if self._parent_pid is not None and os.getppid() != self._parent_pid:
            return f"the master process {self._parent_pid} exited"
        last = runner.last_heartbeat_timestamp  # Locust's wall-clock stamp of the last master heartbeat
        if last is not None and self._clock() - max(last, self._floor) > self._timeout_s:
            return f"no heartbeat from the master for {self._clock() - last:.1f} s"
        return None

    def _watch(self) -> None:
        woke = self._clock()
        while True:
            gevent.sleep(CHECK_S)
            slept, woke = self._clock() - woke, self._clock()
            reason = self.check(slept)
            if reason is not None:
                self._stop(reason)

    def _on_lost(self, environment: Any, msg: Any) -> None:
        self._stop("the master counted this worker as lost (it was silent too long)")
