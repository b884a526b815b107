"""The resolved configuration of one run: a frozen dataclass built from a scenario and CLI options."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunConfig", "ThinkTime", "redacted"]

SECRET_MARKERS = ("token", "authorization", "secret", "password", "key", "cookie")


@dataclass(frozen=True)
class ThinkTime:
    """Pause between a user's turns, in seconds, drawn uniformly from [low, high].

    With `pacing`, the pause is measured from the start of the previous turn (so a user sends a
    prompt every `low..high` seconds, whatever the response time); without it, from its end.
    """

    low: float = 1.0
    high: float = 1.0
    pacing: bool = False

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs. Durations are in seconds."""

    scenario: str = "adhoc"
    target: str = "ws://127.0.0.1:8765/ws"
    protocol: str = "native"
    users: int = 10
    spawn_rate: float = 10.0
    duration: float = 30.0
    think_time: ThinkTime = field(default_factory=ThinkTime)
    #: "closed" (each user waits for its response, then thinks), or open loop: "constant" or
    #: "poisson" arrivals at `rate` turns/s in all, measured from their planned send times.
    arrival: str = "closed"
    rate: float | None = None
    #: Open loop: the most turns in flight at once (per run; None: no cap beyond one per session).
    max_in_flight: int | None = None
    #: A `[shape]` table (see `rtbench.shape`); empty for a constant number of users.
    shape: dict[str, Any] = field(default_factory=dict)
    prompts: tuple[str, ...] = ("Tell me about realtime systems.",)
    max_tokens: int | None = None
    personas: tuple[tuple[str, float], ...] = ()
    persona_switch_probability: float = 0.0
    #: Local load processes; 0 means "auto" until `rtbench.preflight.plan` resolves it.
    workers: int = 1
    #: Workers on other machines to wait for (0: start `workers` local processes instead).
    expect_workers: int = 0
    #: Where the master listens for workers, "HOST:PORT" (default: loopback, any free port).
    master_bind: str | None = None
    #: How long the master waits for its workers to connect, in seconds.
    worker_wait: float = 300.0
    adapter_options: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = 10.0
    turn_timeout: float = 30.0
    first_token_timeout: float | None = None
    idle_timeout: float | None = None
    #: [recovery]: after a dropped WebSocket, reconnect with backoff (attempt n waits up to
    #: min(max, initial * multiplier ** n), less a `jitter` fraction drawn at random) and resume.
    recovery: bool = True
    recovery_backoff_initial: float = 0.1
    recovery_backoff_max: float = 5.0
    recovery_backoff_multiplier: float = 2.0
    recovery_jitter: float = 1.0
    recovery_max_retries: int = 8
    stop_grace: float = 5.0
    include_ramp: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    secret_headers: tuple[str, ...] = ()
    ca_file: str | None = None
    #: Local addresses to open connections from, spread over the users (loopback scale-out).
    source_addrs: tuple[str, ...] = ()
    insecure: bool = False
    target_pid: int | None = None
    target_metrics: str | None = None
    seed: int | None = None
    slo: dict[str, Any] = field(default_factory=dict)
    #: `[server]`: reference-server options, used when rtbench starts the server (`--serve`).
    server: dict[str, Any] = field(default_factory=dict)
    #: `[faults]`: faults to inject into a server rtbench starts (see `rtbench.faults`).
    faults: dict[str, Any] = field(default_factory=dict)
    turn_limits_ms: tuple[tuple[str, float], ...] = ()
    source_file: str | None = None

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with `changes` applied, skipping changes whose value is None."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (round-trips through `from_dict`)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        values = dict(data)
        values["think_time"] = ThinkTime(**values.get("think_time", {}))
        for key in ("prompts", "secret_headers", "source_addrs"):
            values[key] = tuple(values.get(key, ()))
        for key in ("personas", "headers", "turn_limits_ms"):
            values[key] = tuple(tuple(pair) for pair in values.get(key, ()))
        return cls(**values)


def redacted(config: RunConfig) -> dict[str, Any]:
    """The config as a dict with secret header values replaced, for bundles and reports.

    A header is secret when its name says so (Authorization, X-Api-Key, ...) or its value came
    from an environment variable."""
    data = config.to_dict()
    secret = {name.lower() for name in config.secret_headers}
    data["headers"] = [
        [name, "***" if _is_secret(name) or name.lower() in secret else value] for name, value in config.headers
    ]
    return data


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)
