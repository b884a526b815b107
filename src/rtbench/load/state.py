"""Per-process run state shared by the users of one load process (local runner or worker)."""

from __future__ import annotations

import random
import ssl
from dataclasses import dataclass, field
from typing import Any

import gevent.lock

from rtbench.config import RunConfig
from rtbench.metrics.recorder import Recorder
from rtbench.protocols.base import ProtocolAdapter, Wire, adapter_class
from rtbench.transports.tls import tls_context

__all__ = ["ProcessState", "new_adapter", "state_of"]


@dataclass
class ProcessState:
    """What the users of one process share: the config, the recorder and a few gauges."""

    config: RunConfig
    recorder: Recorder
    rng: random.Random = field(default_factory=random.Random)
    stopping: bool = False
    sessions: int = 0
    users_started: int = 0
    in_flight: int = 0
    idle_rss_bytes: float = 0.0
    #: Set by a session whose protocol settings cannot match the server; stops the run.
    config_error: str | None = None
    ssl_context: ssl.SSLContext | None = field(init=False, default=None)
    #: Open loop with a cap: this process's share of `max_in_flight`, as a semaphore.
    turn_slots: gevent.lock.Semaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        config = self.config
        if config.load.arrival != "closed" and config.load.max_in_flight:
            processes = max(1, config.load.expect_workers or config.load.workers)
            self.turn_slots = gevent.lock.Semaphore(max(1, config.load.max_in_flight // processes))
        if self.config.target.url.startswith(("wss:", "https:")):
            self.ssl_context = tls_context(self.config.target.ca_file, insecure=self.config.target.insecure)

    def new_adapter(self) -> ProtocolAdapter:
        """A fresh adapter for one session, with the scenario's `[adapter]` options."""
        return new_adapter(self.config)

    def gauges(self) -> dict[str, Any]:
        """The gauges this process reports each interval."""
        return {
            "sessions": self.sessions,
            "users_started": self.users_started,
            "in_flight": self.in_flight,
            "client_rss_idle_bytes": self.idle_rss_bytes,
            "config_error": self.config_error,
        }


def new_adapter(config: RunConfig) -> ProtocolAdapter:
    """An adapter for `config`'s protocol; HTTP adapters also get the target `url` option."""
    cls = adapter_class(config.target.protocol)
    options = dict(config.target.adapter_options)
    if cls.wire is Wire.HTTP_STREAM:
        options.setdefault("url", config.target.url)
    return cls(options)


def state_of(environment: Any) -> ProcessState:
    """The `ProcessState` attached to a Locust environment by the runner."""
    return environment.rtbench  # type: ignore[no-any-return]
