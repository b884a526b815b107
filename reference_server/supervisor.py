"""`--procs N`: a small parent that starts N worker processes sharing the port (SO_REUSEPORT).

It creates the Prometheus multiprocess directory for the workers' metrics and removes it at the
end, forwards SIGTERM/SIGINT to the workers (and SIGUSR1, a reconnect storm, to the workers that
are ready), and exits non-zero if a worker fails to start or dies while serving (after stopping
the others).
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from types import FrameType

from reference_server.config import ServerConfig
from reference_server.listen import ensure_port_free, http_url

__all__ = ["supervise"]

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[bytes]
    ready_fd: int
    ready: bool = False


@dataclass
class Signals:
    """The first SIGTERM/SIGINT received, to be forwarded to the workers."""

    received: int | None = None
    previous: dict[int, object] = field(default_factory=dict)

    def install(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._on_signal)

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum


def supervise(worker_argv: list[str], config: ServerConfig) -> int:
    """Run `config.procs` workers (`python -m reference_server *worker_argv`) until a signal."""
    ensure_port_free(config.host, config.port)
    metrics_dir = tempfile.mkdtemp(prefix="rtref-metrics-")
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    signals = Signals()
    signals.install()
    workers: list[Worker] = []
    previous_usr1 = signal.signal(signal.SIGUSR1, lambda signum, frame: _forward_storm(workers))
    try:
        for index in range(config.procs):
            workers.append(_start(index, worker_argv, env))
        code = _wait_ready(workers, signals)
        if code is not None:
            return code
        print(
            f"reference_server: listening on {http_url(config.host, config.port)} "
            f"({config.procs} processes, pid {os.getpid()}, workers "
            f"{' '.join(str(w.proc.pid) for w in workers)})",
            file=sys.stderr,
            flush=True,
        )
        return _watch(workers, signals, metrics_dir)
    finally:
        _stop(workers, signals.received or signal.SIGTERM)
        signals.restore()
        signal.signal(signal.SIGUSR1, previous_usr1)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _forward_storm(workers: list[Worker]) -> None:
    """SIGUSR1 to every ready, running worker (one still starting would not handle it yet)."""
    for worker in workers:
        if worker.ready and worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGUSR1)


def _start(index: int, argv: list[str], env: dict[str, str]) -> Worker:
    read_fd, write_fd = os.pipe()
    cmd = [sys.executable, "-m", "reference_server", *argv, "--worker-index", str(index), "--ready-fd", str(write_fd)]
    proc = subprocess.Popen(cmd, pass_fds=(write_fd,), env=env, stdin=subprocess.DEVNULL)
    os.close(write_fd)
    return Worker(index, proc, read_fd)


def _wait_ready(workers: list[Worker], signals: Signals) -> int | None:
    """None once every worker is ready; otherwise the exit code to leave with."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while not all(w.ready for w in workers):
            if signals.received is not None:
                return 0
            if time.monotonic() > deadline:
                print(f"error: the workers did not start within {READY_TIMEOUT_S:g} s", file=sys.stderr)
                return 1
            waiting = {w.ready_fd: w for w in workers if not w.ready}
            readable, _, _ = select.select(list(waiting), [], [], 0.1)
            for fd in readable:
                worker = waiting[fd]
                if os.read(fd, 64).startswith(b"ready"):
                    worker.ready = True
                    continue
                code = worker.proc.wait()  # EOF: the worker exited; it printed its own error ...
                if code <= 0:  # ... unless a signal ended it
                    print(
                        f"error: worker {worker.index} (pid {worker.proc.pid}) exited with code {code} "
                        "before it was ready",
                        file=sys.stderr,
                        flush=True,
                    )
                return code if code > 0 else 1
    finally:
        for worker in workers:
            os.close(worker.ready_fd)
    return None


def _watch(workers: list[Worker], signals: Signals, metrics_dir: str) -> int:
    """Wait for a signal (exit 0) or a worker's death (exit 1)."""
    while signals.received is None:
        for worker in workers:
            code = worker.proc.poll()
            if code is not None:
                from prometheus_client import multiprocess

                multiprocess.mark_process_dead(worker.proc.pid, metrics_dir)
                print(
                    f"error: worker {worker.index} (pid {worker.proc.pid}) exited with code {code}; stopping",
                    file=sys.stderr,
                    flush=True,
                )
                return 1
        time.sleep(0.2)
    return 0


def _stop(workers: list[Worker], signum: int) -> None:
    """Forward `signum` to the running workers, wait, and kill those that outstay the timeout."""
    running = [w.proc for w in workers if w.proc.poll() is None]
    for proc in running:
        proc.send_signal(signum)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
