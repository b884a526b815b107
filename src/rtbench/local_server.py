"""Start and stop the bundled reference server as a child process (by its PID)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence

from rtbench.errors import RtbenchError

__all__ = ["LocalServer", "free_port"]

START_TIMEOUT_S = 20.0
DEFAULT_NETNS_PORT = 8765


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on `host` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalServer:
    """`python -m reference_server` on loopback, ready once `/healthz` answers.

    With `netns`, the server runs inside that network namespace (`ip netns exec NETNS ...`, see
    `rtbench.netem.Netns`) and `host` is its address there; the PID is still the server's own.
    """

    def __init__(
        self, flags: Sequence[str] = (), host: str = "127.0.0.1", port: int | None = None, netns: str | None = None
    ) -> None:
        self.host = host
        self.netns = netns
        # a namespace of our own has every port free; this one's free ports say nothing of it
        self.port = port or (free_port() if netns is None else DEFAULT_NETNS_PORT)
        self._flags = list(flags)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def pid(self) -> int:
        assert self._proc is not None, "server not started"
        return self._proc.pid

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def start(self) -> LocalServer:
        cmd = [sys.executable, "-m", "reference_server", "--host", self.host, "--port", str(self.port), *self._flags]
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        # stderr goes to a file, never a pipe: a full pipe would stall a chatty server mid-run.
        self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                last = self.stderr_tail() or f"exit code {self._proc.returncode}"
                raise RtbenchError(f"the reference server did not start: {last}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=1.0):
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RtbenchError(f"the reference server did not answer /healthz within {START_TIMEOUT_S:g} s")

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        return proc.returncode

    def stderr_tail(self) -> str:
        """The last line the server wrote to stderr."""
        # pread: the child shares this file's offset, so seek() would move where it writes
        size = os.fstat(self._log.fileno()).st_size
        tail = os.pread(self._log.fileno(), 4096, max(0, size - 4096))
        lines = tail.decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
