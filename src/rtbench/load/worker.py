"""Entry point of one Locust worker process: `python -m rtbench.load.worker`."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from locust import events as _locust_events  # noqa: F401  (monkey-patches first)

from rtbench.config import RunConfig
from rtbench.load.environment import build_environment, client_gauges
from rtbench.load.monitors import ClientLagMonitor
from rtbench.load.shipping import WorkerShipping

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtbench-worker", description=__doc__)
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True, help="RunConfig as JSON")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    # Ctrl-C reaches the whole process group: the master decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    config = RunConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8")))
    environment, state = build_environment(config, seed=args.seed, freeze_on_spawn=True)
    runner = environment.create_worker_runner(args.master_host, args.master_port)
    lag = ClientLagMonitor(state.recorder.record)
    lag.start()
    WorkerShipping(environment, state, client_gauges())
    runner.greenlet.join()
    lag.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
