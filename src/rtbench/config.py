"""The resolved configuration of one run: a frozen `RunConfig` of typed sub-configs.

`rtbench.scenario.resolve` builds it, once, from a scenario table and the CLI's overrides. It
travels (to workers, into bundles) as a flat dict whose keys are the scenario-era names listed in
`WIRE_KEYS` (`to_dict`/`from_dict`), so summary.json's `config` section keeps its layout.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rtbench.faults import ServerPlan, plan_server
from rtbench.prompts.config import PromptsConfig
from rtbench.redaction import redacted_headers
from rtbench.shape import ShapeSpec, compile_shape
from rtbench.trace.config import TraceConfig

__all__ = [
    "ConversationConfig",
    "FaultsConfig",
    "LoadConfig",
    "PromptsConfig",
    "RecoveryConfig",
    "RunConfig",
    "ServerConfig",
    "ShapeConfig",
    "TargetConfig",
    "ThinkTime",
    "WIRE_KEYS",
    "parse_duration",
    "redacted",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

_Sub = TypeVar("_Sub")


def parse_duration(value: Any) -> float:
    """Seconds from a number (seconds) or a string like "500ms", "30s", "2m", "1h"."""
    if isinstance(value, bool):
        raise ValueError("a duration such as 30s, 500ms or 2m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("a duration such as 30s, 500ms or 2m")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise ValueError("a duration that is not negative")
    return seconds


class _Replace:
    def replace(self: _Sub, **changes: Any) -> _Sub:
        """A copy with `changes` applied (every change, None included)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


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
class TargetConfig(_Replace):
    """What to connect to, and how. Durations in seconds."""

    url: str = "ws://127.0.0.1:8765/ws"
    protocol: str = "native"
    adapter_options: dict[str, Any] = field(default_factory=dict)
    connect_timeout: float = 10.0
    turn_timeout: float = 30.0
    first_token_timeout: float | None = None
    idle_timeout: float | None = None
    #: No session up and every connection attempt failing for this long: the target is down, and
    #: the run stops, marked partial (`rtbench.load.liveness`). 0 turns the check off.
    down_after: float = 5.0
    headers: tuple[tuple[str, str], ...] = ()
    #: Names of headers whose values came from the environment (redacted in bundles).
    secret_headers: tuple[str, ...] = ()
    ca_file: str | None = None
    insecure: bool = False
    #: A local target process to sample (RSS, CPU).
    pid: int | None = None
    #: The target's Prometheus /metrics URL to scrape.
    metrics_url: str | None = None
    #: WebSocket permessage-deflate to offer: {"method": "deflate", RFC 7692 parameters...}, or
    #: None for none (`rtbench.values.compression`).
    compression: dict[str, Any] | None = None


@dataclass(frozen=True)
class LoadConfig(_Replace):
    """How much load, from how many processes. Durations in seconds."""

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
    #: Local load processes; 0 means "auto" until `rtbench.preflight.preflight` resolves it.
    workers: int = 1
    #: Workers on other machines to wait for (0: start `workers` local processes instead).
    expect_workers: int = 0
    #: Where the master listens for workers, "HOST:PORT" (default: loopback, any free port).
    master_bind: str | None = None
    #: How long the master waits for its workers to connect, in seconds.
    worker_wait: float = 300.0
    #: Local addresses to open connections from, spread over the users (loopback scale-out).
    source_addrs: tuple[str, ...] = ()
    stop_grace: float = 5.0
    include_ramp: bool = False
    #: A fixed amount of work: the run ends once this many turns (`requests`) or conversations
    #: have ended, split over the load processes (`rtbench.load.quota`); `duration` is then only
    #: a safety limit. None: the run lasts `duration`.
    requests: int | None = None
    conversations: int | None = None

    @property
    def fixed_work(self) -> tuple[str, int] | None:
        """("requests" | "conversations", N) for a run of a fixed amount of work, else None."""
        if self.requests is not None:
            return ("requests", self.requests)
        if self.conversations is not None:
            return ("conversations", self.conversations)
        return None

    #: Write turns.jsonl: a row per turn that ended (and with `export_content`, its texts).
    export_turns: bool = False
    export_content: bool = False

    @property
    def exports_turns(self) -> bool:
        """turns.jsonl is written: asked for, or implied by asking for the content."""
        return self.export_turns or self.export_content


@dataclass(frozen=True)
class RecoveryConfig(_Replace):
    """`[recovery]`: after a dropped WebSocket, reconnect with backoff (attempt n waits up to
    min(max, initial * multiplier ** n), less a `jitter` fraction drawn at random) and resume."""

    enabled: bool = True
    backoff_initial: float = 0.1
    backoff_max: float = 5.0
    backoff_multiplier: float = 2.0
    jitter: float = 1.0
    max_retries: int = 8


@dataclass(frozen=True)
class ConversationConfig(_Replace):
    """How the users converse: turns, history, and the personas they switch between (what they
    say is `PromptsConfig`)."""

    personas: tuple[tuple[str, float], ...] = ()
    switch_probability: float = 0.0
    #: A `[conversation]` table was given: turns carry their history, and are timed by index.
    enabled: bool = False
    #: Turns per conversation, drawn uniformly from (low, high) at each conversation's start.
    turns: tuple[int, int] = (5, 5)
    #: "full", "none" or "window:N" (the last N earlier turns).
    history: str = "full"
    #: Drop the oldest turns until the context holds at most this many tokens (None: no bound).
    max_context_tokens: int | None = None
    #: (persona, system prompt) for the personas that have one (`[personas.NAME] system`).
    persona_systems: tuple[tuple[str, str], ...] = ()
    #: (persona, model) for the personas that name a model of their own.
    persona_models: tuple[tuple[str, str], ...] = ()

    @property
    def history_turns(self) -> int | None:
        """How many earlier turns a turn's context keeps: None for all ("full")."""
        if self.history == "full":
            return None
        if self.history == "none":
            return 0
        return int(self.history.partition(":")[2])


@dataclass(frozen=True)
class ShapeConfig(_Replace):
    """A `[shape]` table (see `rtbench.shape`) and its compiled spec; empty for constant users."""

    table: dict[str, Any] = field(default_factory=dict)
    spec: ShapeSpec | None = None


@dataclass(frozen=True)
class ServerConfig(_Replace):
    """`[server]`: reference-server options, used when rtbench starts the server (`--serve`)."""

    options: dict[str, Any] = field(default_factory=dict)
    #: `options` and `[faults]` as the server's flags, and its scheduled kill and restart.
    plan: ServerPlan = field(default_factory=ServerPlan)


@dataclass(frozen=True)
class FaultsConfig(_Replace):
    """`[faults]`: faults to inject into a server rtbench starts (see `rtbench.faults`)."""

    table: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig(_Replace):
    """Everything a run needs, in typed parts."""

    scenario: str = "adhoc"
    target: TargetConfig = field(default_factory=TargetConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    recovery: RecoveryConfig = field(default_factory=RecoveryConfig)
    conversation: ConversationConfig = field(default_factory=ConversationConfig)
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    shape: ShapeConfig = field(default_factory=ShapeConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    faults: FaultsConfig = field(default_factory=FaultsConfig)
    trace: TraceConfig = field(default_factory=TraceConfig)
    seed: int | None = None
    #: The `[slo]` table as written (parsed into an `SloSpec` by the workflow, once).
    slo: dict[str, Any] = field(default_factory=dict)
    #: Per-turn SLO limits (metric, ms) for goodput.
    turn_limits_ms: tuple[tuple[str, float], ...] = ()
    source_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready flat dict keyed by `WIRE_KEYS` (round-trips through `from_dict`)."""
        data: dict[str, Any] = {}
        for key, (part, name) in WIRE_KEYS.items():
            value = getattr(getattr(self, part), name) if part else getattr(self, name)
            data[key] = dataclasses.asdict(value) if isinstance(value, ThinkTime) else _plain(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """The config `to_dict` gave (keys left out keep their defaults; derived parts are rebuilt)."""
        shape_table = data.get("shape") or {}
        spawn_rate = data.get("spawn_rate", LoadConfig.spawn_rate)
        spec = compile_shape(shape_table, spawn_rate, parse_duration) if shape_table else None
        plan = plan_server(data.get("server") or {}, data.get("faults") or {}, parse_duration)
        return cls.assemble(data, spec, plan)

    @classmethod
    def assemble(cls, data: dict[str, Any], shape: ShapeSpec | None, server_plan: ServerPlan) -> RunConfig:
        """A config from flat `WIRE_KEYS` values and the parts already derived from them: the
        compiled `[shape]` and the plan for a server rtbench starts (`[server]` and `[faults]`)."""
        unknown = set(data) - set(WIRE_KEYS)
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(sorted(unknown))}")
        parts: dict[str, dict[str, Any]] = {part: {} for part, _ in WIRE_KEYS.values() if part}
        top: dict[str, Any] = {}
        for key, value in data.items():
            part, name = WIRE_KEYS[key]
            (parts[part] if part else top)[name] = _typed(key, value)
        return cls(
            **top,
            target=TargetConfig(**parts["target"]),
            load=LoadConfig(**parts["load"]),
            recovery=RecoveryConfig(**parts["recovery"]),
            conversation=ConversationConfig(**parts["conversation"]),
            prompts=PromptsConfig(**parts["prompts"]),
            shape=ShapeConfig(parts["shape"].get("table", {}), shape),
            server=ServerConfig(parts["server"].get("options", {}), server_plan),
            faults=FaultsConfig(parts["faults"].get("table", {})),
            trace=TraceConfig(**parts["trace"]),
        )


#: The flat key of each field in `to_dict`/`from_dict` (and summary.json `config`, run.json):
#: key -> (sub-config, field), "" for a field of RunConfig itself. In the order bundles show them.
WIRE_KEYS: dict[str, tuple[str, str]] = {
    "scenario": ("", "scenario"),
    "target": ("target", "url"),
    "protocol": ("target", "protocol"),
    "users": ("load", "users"),
    "spawn_rate": ("load", "spawn_rate"),
    "duration": ("load", "duration"),
    "think_time": ("load", "think_time"),
    "arrival": ("load", "arrival"),
    "rate": ("load", "rate"),
    "max_in_flight": ("load", "max_in_flight"),
    "shape": ("shape", "table"),
    "prompts": ("prompts", "texts"),
    "max_tokens": ("prompts", "max_tokens"),
    "personas": ("conversation", "personas"),
    "persona_switch_probability": ("conversation", "switch_probability"),
    "workers": ("load", "workers"),
    "expect_workers": ("load", "expect_workers"),
    "master_bind": ("load", "master_bind"),
    "worker_wait": ("load", "worker_wait"),
    "adapter_options": ("target", "adapter_options"),
    "connect_timeout": ("target", "connect_timeout"),
    "turn_timeout": ("target", "turn_timeout"),
    "first_token_timeout": ("target", "first_token_timeout"),
    "idle_timeout": ("target", "idle_timeout"),
    "down_after": ("target", "down_after"),
    "recovery": ("recovery", "enabled"),
    "recovery_backoff_initial": ("recovery", "backoff_initial"),
    "recovery_backoff_max": ("recovery", "backoff_max"),
    "recovery_backoff_multiplier": ("recovery", "backoff_multiplier"),
    "recovery_jitter": ("recovery", "jitter"),
    "recovery_max_retries": ("recovery", "max_retries"),
    "stop_grace": ("load", "stop_grace"),
    "include_ramp": ("load", "include_ramp"),
    "headers": ("target", "headers"),
    "secret_headers": ("target", "secret_headers"),
    "ca_file": ("target", "ca_file"),
    "source_addrs": ("load", "source_addrs"),
    "insecure": ("target", "insecure"),
    "target_pid": ("target", "pid"),
    "target_metrics": ("target", "metrics_url"),
    "seed": ("", "seed"),
    "slo": ("", "slo"),
    "server": ("server", "options"),
    "faults": ("faults", "table"),
    "turn_limits_ms": ("", "turn_limits_ms"),
    "source_file": ("", "source_file"),
    "conversation": ("conversation", "enabled"),
    "conversation_turns": ("conversation", "turns"),
    "history": ("conversation", "history"),
    "max_context_tokens": ("conversation", "max_context_tokens"),
    "persona_systems": ("conversation", "persona_systems"),
    "persona_models": ("conversation", "persona_models"),
    # prompts
    "prompt_file": ("prompts", "file"),
    "input_tokens": ("prompts", "input_tokens"),
    "prefix_tokens": ("prompts", "prefix_tokens"),
    "tokenizer": ("prompts", "tokenizer"),
    # shapes
    "requests": ("load", "requests"),
    "conversations": ("load", "conversations"),
    # wire
    "compression": ("target", "compression"),
    # throughput
    "export_turns": ("load", "export_turns"),
    "export_content": ("load", "export_content"),
    # trace
    "trace_file": ("trace", "file"),
    "trace_speed": ("trace", "speed"),
}
_TUPLES = ("prompts", "secret_headers", "source_addrs", "conversation_turns")
_PAIRS = ("personas", "headers", "turn_limits_ms", "persona_systems", "persona_models")


def _plain(value: Any) -> Any:
    """Tuples, lists and dicts copied deeply, as `dataclasses.asdict` copies them."""
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _typed(key: str, value: Any) -> Any:
    if key == "think_time":
        return value if isinstance(value, ThinkTime) else ThinkTime(**value)
    if key in _TUPLES:
        return tuple(value)
    if key in _PAIRS:
        return tuple(tuple(pair) for pair in value)
    return value


def redacted(config: RunConfig) -> dict[str, Any]:
    """The config as a dict with secret header values replaced, for bundles and reports.

    A header is secret when its name says so (Authorization, X-Api-Key, ...) or its value came
    from an environment variable."""
    data = config.to_dict()
    data["headers"] = redacted_headers(config.target.headers, {name.lower() for name in config.target.secret_headers})
    return data
