"""Entry point of one Locust worker process: `python -m rtbench.load.distributed.worker`."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from locust import events as _locust_events  # noqa: F401  (monkey-patches first)

from rtbench.load.distributed.environment import new_environment
from rtbench.load.distributed.handshake import WorkerSetup
from rtbench.load.distributed.watchdog import MasterWatchdog

__all__ = ["main", "run_worker"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtbench-worker", description=__doc__)
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--parent-pid", type=int, default=None, help="stop at once when this process is gone")
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group: the master decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return run_worker(args.master_host, args.master_port, parent_pid=args.parent_pid)


def run_worker(master_host: str, master_port: int, hlog_dir: Path | None = None, parent_pid: int | None = None) -> int:
    """Join the master at `master_host:master_port`, run its users until it quits; 0 on success.
    With `hlog_dir`, keep a copy of every shipped interval there as .hlog files. The process
    stops at once (exit 3) when the master is gone, or when `parent_pid` has exited."""
    environment = new_environment()
    runner = environment.create_worker_runner(master_host, master_port)
    MasterWatchdog(runner, parent_pid)
    setup = WorkerSetup(environment, hlog_dir)
    runner.greenlet.join()
    if setup.lag is not None:
        setup.lag.stop()
    return 1 if setup.error else 0


if __name__ == "__main__":
    sys.exit(main())
