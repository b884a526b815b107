"""A planned outage of a local target: SIGKILL the reference server, restart it on the same port.

The runner ticks it every second with the time since the steady state began; it returns the
events it caused, for the bundle's timeline.

Starting a process from the load process would fork it, and a fork of a process holding
thousands of sessions stalls its event loop for tens of milliseconds. So the restart is done by a
small helper process (this module's `main`), started before the load: it starts the new server
when told to and answers with its PID. Killing is one `kill(2)` per process, done here.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import psutil

from rtbench.faults import ServerPlan
from rtbench.local_server import LocalServer

__all__ = ["ScheduledOutage", "main"]

HELPER_STOP_S = 15.0


class ScheduledOutage:
    """Kill `server` (and its worker processes) the plan's `kill_after_s` into the steady state, and
    start it again with the plan's flags `restart_after_s` later (never, if None). Call `close()`
    once the run is over."""

    def __init__(self, server: LocalServer, plan: ServerPlan) -> None:
        if plan.kill_after_s is None:
            raise ValueError("a scheduled outage needs the plan's kill_after_s")
        self.server = server
        self.kill_after_s: float = plan.kill_after_s
        self.restart_after_s = plan.restart_after_s
        self.pid = server.pid
        self.killed_at: float | None = None
        self.restarted_at: float | None = None
        self._asked = False
        self._buffer = b""
        self._helper: subprocess.Popen[bytes] | None = None
        if self.restart_after_s is not None:
            cmd = [
                sys.executable,
                "-m",
                "rtbench.load.outage",
                "--host",
                server.host,
                "--port",
                str(server.port),
                "--",
                *plan.flags,
            ]
            self._helper = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            assert self._helper.stdout is not None
            os.set_blocking(self._helper.stdout.fileno(), False)

    @property
    def down(self) -> bool:
        """True from the kill until the server is back (or for good)."""
        return self.killed_at is not None and self.restarted_at is None

    def tick(self, steady_elapsed_s: float) -> list[tuple[str, str]]:
        """Kill, ask for the restart, or notice it, when due; the (kind, detail) events."""
        if self.killed_at is None and steady_elapsed_s >= self.kill_after_s:
            _kill_tree(self.pid)
            self.killed_at = time.time()
            return [("target_killed", f"planned fault: SIGKILL to the reference server (pid {self.pid})")]
        if not self.down or self._helper is None:
            return []
        if not self._asked and time.time() >= self.killed_at + self.restart_after_s:  # type: ignore[operator]
            self._helper.stdin.write(b"restart\n")  # type: ignore[union-attr]
            self._helper.stdin.flush()  # type: ignore[union-attr]
            self._asked = True
        if self._asked and (pid := self._read_pid()) is not None:
            self.pid, self.restarted_at = pid, time.time()
            took = self.restarted_at - self.killed_at  # type: ignore[operator]
            return [("target_restarted", f"planned fault: reference server back after {took:.1f} s (pid {pid})")]
        return []

    def _read_pid(self) -> int | None:
        try:
            self._buffer += os.read(self._helper.stdout.fileno(), 4096)  # type: ignore[union-attr]
        except BlockingIOError:
            pass
        line, sep, _ = self._buffer.partition(b"\n")
        if not sep:
            return None
        if not line.startswith(b"pid "):
            raise RuntimeError(f"the reference server did not restart: {line.decode(errors='replace')}")
        return int(line.split()[1])

    def close(self) -> None:
        """Stop the restarted server (through the helper) and the helper."""
        helper, self._helper = self._helper, None
        if helper is None:
            return
        try:
            helper.stdin.close()  # type: ignore[union-attr]
            helper.wait(timeout=HELPER_STOP_S)
        except (OSError, subprocess.TimeoutExpired):
            helper.kill()
            helper.wait()


def _kill_tree(pid: int) -> None:
    """SIGKILL `pid` and its descendants, the children first (they would be re-parented)."""
    for member in reversed(_tree(pid)):
        try:
            os.kill(member, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants. Linux lists each thread's children in /proc, which is far
    cheaper than psutil's scan of every process (milliseconds the load process cannot spare)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            if current == pid:
                return [pid] + [p.pid for p in _psutil_children(pid)]
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as f:
                    queue += [int(child) for child in f.read().split()]
            except OSError:
                continue
    return found


def _psutil_children(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.Error:
        return []


def main(argv: list[str] | None = None) -> int:
    """The helper: on "restart", start the server and print "pid N"; on EOF, stop it and exit."""
    parser = argparse.ArgumentParser(prog="rtbench-outage-helper")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("flags", nargs="*")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this ends
    server: LocalServer | None = None
    try:
        for line in sys.stdin:
            if line.strip() == "restart" and server is None:
                try:
                    server = LocalServer(args.flags, host=args.host, port=args.port).start()
                except Exception as exc:  # noqa: BLE001 - reported to the parent in one line
                    print(f"error {exc}", flush=True)
                    continue
                print(f"pid {server.pid}", flush=True)
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
