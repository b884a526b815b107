"""Locust worker processes on this machine, started and stopped by their PIDs."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from rtbench.config import RunConfig

__all__ = ["WorkerPool"]

STOP_WAIT_S = 10.0


class WorkerPool:
    """N `python -m rtbench.load.worker` processes connected to a master on loopback."""

    def __init__(self, config: RunConfig, master_port: int, master_host: str = "127.0.0.1") -> None:
        self._config = config
        self._master = (master_host, master_port)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._config_file: Path | None = None

    def start(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
            json.dump(self._config.to_dict(), f)
            self._config_file = Path(f.name)
        for index in range(self._config.workers):
            seed = None if self._config.seed is None else self._config.seed + index + 1
            cmd = [
                sys.executable, "-m", "rtbench.load.worker",
                "--master-host", self._master[0], "--master-port", str(self._master[1]),
                "--config", str(self._config_file),
            ] + (["--seed", str(seed)] if seed is not None else [])
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
        if self._config_file is not None:
            self._config_file.unlink(missing_ok=True)
