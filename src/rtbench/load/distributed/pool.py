"""Locust worker processes on this machine, started and stopped by their PIDs."""

from __future__ import annotations

import os
import subprocess
import sys

from rtbench.config import RunConfig

__all__ = ["WorkerPool"]

STOP_WAIT_S = 10.0


class WorkerPool:
    """N `python -m rtbench.load.distributed.worker` processes connected to a master on loopback.
    Each is told this process's PID, and stops at once when this process is gone."""

    def __init__(self, config: RunConfig, master_port: int, master_host: str = "127.0.0.1") -> None:
        self._config = config
        self._master = (master_host, master_port)
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        """Start the workers; each gets its config from the master when it connects."""
        for _ in range(self._config.load.workers):
            cmd = [
                sys.executable,
                "-m",
                "rtbench.load.distributed.worker",
                "--master-host",
                self._master[0],
                "--master-port",
                str(self._master[1]),
                "--parent-pid",
                str(os.getpid()),
            ]
            self._procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def exited(self) -> dict[int, int]:
        """PID -> exit code (negative: the signal that killed it) of every worker that has exited."""
        return {p.pid: p.returncode for p in self._procs if p.poll() is not None}

    def kill(self, pid: int) -> None:
        """SIGKILL worker `pid` (a stopped one too) and reap it; nothing if it has exited."""
        for proc in self._procs:
            if proc.pid == pid and proc.poll() is None:
                proc.kill()
                proc.wait()

    def stop(self) -> None:
        """Wait for workers to exit after Locust's quit; terminate the ones that do not."""
        for proc in self._procs:
            try:
                proc.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=STOP_WAIT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
