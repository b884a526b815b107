"""Handing the run's configuration to Locust workers over Locust's own ZeroMQ transport.

Workers, local or on other machines, start with nothing but the master's address. Once its
handler is registered, a worker asks for the configuration (`rtbench_hello`); the master answers
with the resolved `RunConfig`, a seed of its own and rtbench's version, and the worker attaches its
state and starts shipping intervals (`shipping.WorkerShipping`). Messages between one master and
one worker arrive in order, and the master spawns users only once every worker has connected, so
the configuration comes before the first spawn message.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.config import RunConfig
from rtbench.load.distributed.environment import attach_state, client_gauges
from rtbench.load.distributed.interval_log import WorkerIntervalLog
from rtbench.load.distributed.shipping import WorkerShipping
from rtbench.load.monitors import ClientLagMonitor
from rtbench.load.versions import versions

__all__ = ["CONFIG", "HELLO", "ConfigDistribution", "WorkerIdentity", "WorkerSetup"]

log = logging.getLogger(__name__)
CONFIG = "rtbench_config"
HELLO = "rtbench_hello"


@dataclass(frozen=True)
class WorkerIdentity:
    """Who a worker is, as it said in its hello: its process and the machine it runs on."""

    pid: int | None
    host: str | None


class ConfigDistribution:
    """Master side: send each worker that connects the config and a seed of its own, and keep
    who each worker is (`workers`: Locust client id -> `WorkerIdentity`)."""

    def __init__(self, environment: Any, config: RunConfig) -> None:
        self._runner = environment.runner
        self._config = config
        self._index = itertools.count(1)
        self.workers: dict[str, WorkerIdentity] = {}
        self._runner.register_message(HELLO, self._on_hello)

    def client_of(self, pid: int) -> str | None:
        """The client id of the worker process `pid` on this machine, if it said hello."""
        here = socket.gethostname()
        return next((cid for cid, who in self.workers.items() if who.pid == pid and who.host == here), None)

    def _on_hello(self, environment: Any, msg: Any) -> None:
        client_id = msg.node_id
        data = msg.data or {}
        self.workers[client_id] = WorkerIdentity(data.get("pid"), data.get("host"))
        index = next(self._index)
        seed = None if self._config.seed is None else self._config.seed + index
        data = {"config": self._config.to_dict(), "seed": seed, "version": versions()["rtbench"], "index": index - 1}
        self._runner.send_message(CONFIG, data, client_id=client_id)


class WorkerSetup:
    """Worker side: wait for the config, then attach state, the lag monitor and the shipping."""

    def __init__(self, environment: Any, hlog_dir: Path | None = None) -> None:
        self._environment = environment
        self._hlog_dir = hlog_dir
        self.lag: ClientLagMonitor | None = None
        self.error: str | None = None
        environment.runner.register_message(CONFIG, self._on_config)
        environment.runner.send_message(HELLO, {"pid": os.getpid(), "host": socket.gethostname()})

    def _on_config(self, environment: Any, msg: Any) -> None:
        if getattr(environment, "rtbench", None) is not None:
            return  # a reconnect: keep the state of this run
        if msg.data.get("version") != versions()["rtbench"]:
            self.error = f"master runs rtbench {msg.data.get('version')}, this worker {versions()['rtbench']}"
            log.error("%s: quitting", self.error)
            environment.runner.quit()
            return
        config = RunConfig.from_dict(msg.data["config"])
        state = attach_state(
            environment, config, msg.data.get("seed"), freeze_on_spawn=True, process_index=msg.data.get("index", 0)
        )
        state.start_ledger(environment.runner.greenlet.spawn)  # dies with the runner
        self.lag = ClientLagMonitor(state.recorder.record)
        self.lag.start()
        tap = WorkerIntervalLog(self._hlog_dir) if self._hlog_dir is not None else None
        WorkerShipping(environment, state, client_gauges(), tap)
