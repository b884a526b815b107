"""Run the reference server as a real subprocess on a free loopback port (`support.ports`), for tests.

    from support.server import running_server

    with running_server("--ttft-ms", "50", procs=2) as server:
        urllib.request.urlopen(server.base_url + "/healthz")
        ws = websocket.create_connection(server.ws_url)
        server.metrics()["rtref_prompts_total"]   # parsed /metrics, summed over labels

The server starts with `python -m reference_server --host 127.0.0.1 --port P --procs N *flags`.
It is ready once /healthz answers and it has logged its "listening on" line (within 15 s; the
error carries the server's stderr). On exit it
gets SIGTERM, then SIGKILL if it has not stopped within 10 s.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families
from support.ports import worker_port

__all__ = ["REPO_ROOT", "ServerHandle", "parse_metrics", "running_server"]

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
PORT_IN_USE_EXIT = 2


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text to {sample name: value} (summed over labels) plus {'name{k="v",...}': value}."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name] = values.get(sample.name, 0.0) + sample.value
            if sample.labels:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                key = f"{sample.name}{{{labels}}}"
                values[key] = values.get(key, 0.0) + sample.value
    return values


@dataclass
class ServerHandle:
    """A running reference server. `pid` is the server's (the supervisor's with procs > 1)."""

    host: str
    port: int
    proc: subprocess.Popen[bytes]
    stderr_file: IO[bytes] = field(repr=False)
    _stderr_at_exit: str | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    def stderr(self) -> str:
        """Everything the server wrote to stderr so far (also after the `with` block)."""
        if self._stderr_at_exit is not None:
            return self._stderr_at_exit
        # pread: the server shares this file's offset, so seeking here would move its writes.
        fd = self.stderr_file.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def metrics_text(self) -> str:
        with urllib.request.urlopen(self.base_url + "/metrics", timeout=5) as response:
            return response.read().decode()

    def metrics(self) -> dict[str, float]:
        """The current /metrics, parsed by `parse_metrics`."""
        return parse_metrics(self.metrics_text())

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server, wait for it (SIGKILL after 10 s) and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _wait_healthy(handle: ServerHandle) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if handle.proc.poll() is not None:
            raise RuntimeError(f"reference server exited with {handle.proc.returncode}: {handle.stderr().strip()}")
        try:
            with urllib.request.urlopen(handle.base_url + "/healthz", timeout=1.0) as response:
                # With procs > 1, /healthz answers once one worker is up; the "listening" line
                # comes when all are.
                if response.status == 200 and "listening on" in handle.stderr():
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    handle.stop(signal.SIGKILL)
    raise RuntimeError(f"reference server not healthy within {START_TIMEOUT_S:g} s: {handle.stderr().strip()}")


def _start(flags: tuple[str, ...], procs: int, env: dict[str, str] | None) -> ServerHandle:
    host, port = "127.0.0.1", worker_port()
    cmd = [sys.executable, "-m", "reference_server", "--host", host, "--port", str(port), "--procs", str(procs), *flags]
    child_env = dict(os.environ if env is None else {**os.environ, **env})
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), child_env.get("PYTHONPATH")]))
    stderr_file = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the server
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=child_env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr_file
    )
    handle = ServerHandle(host, port, proc, stderr_file)
    _wait_healthy(handle)
    return handle


@contextmanager
def running_server(*flags: str, procs: int = 1, env: dict[str, str] | None = None) -> Iterator[ServerHandle]:
    """A reference server on a free 127.0.0.1 port for the duration of the `with` block.

    `env` is added to this process's environment for the server. The port is chosen free just
    before the start; if another process takes it meanwhile, the start is retried (3 times).
    """
    for attempt in range(3):
        try:
            handle = _start(flags, procs, env)
            break
        except RuntimeError as exc:
            if "already in use" not in str(exc) or attempt == 2:
                raise
    try:
        yield handle
    finally:
        handle.stop()
        handle._stderr_at_exit = handle.stderr()
        handle.stderr_file.close()
