"""Locust worker processes on this machine, started and stopped by their PIDs."""

from __future__ import annotations

import subprocess
import sys

from rtbench.config import RunConfig

__all__ = ["WorkerPool"]

STOP_WAIT_S = 10.0


class WorkerPool:
    """N `python -m rtbench.load.distributed.worker` processes connected to a master on loopback."""

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
            ]
            self._procs.append(subprocess.Popen(cmd, stdin=subprocess.DEVNULL))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def dead(self) -> list[int]:
        """PIDs of workers that exited before being asked to."""
        return [p.pid for p in self._procs if p.poll() is not None]

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
