"""Per-process run state shared by the users of one load process (local runner or worker)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from rtbench.config import RunConfig
from rtbench.metrics.recorder import Recorder

__all__ = ["ProcessState", "state_of"]


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

    def gauges(self) -> dict[str, Any]:
        """The gauges this process reports each interval."""
        return {
            "sessions": self.sessions,
            "users_started": self.users_started,
            "in_flight": self.in_flight,
            "client_rss_idle_bytes": self.idle_rss_bytes,
        }


def state_of(environment: Any) -> ProcessState:
    """The `ProcessState` attached to a Locust environment by the runner."""
    return environment.rtbench  # type: ignore[no-any-return]
