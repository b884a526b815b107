"""The server's configuration: frozen dataclasses, and a TOML loader with one-line errors.

Precedence: built-in defaults < the TOML file (`--config`) < flags given on the command line.
Every key is optional. A latency value is a number (fixed), a string `"lognormal:MEDIAN:P95"` or
`"uniform:MIN:MAX"`, or a table `{dist = "lognormal", median = 50, p95 = 120}`:

    port = 8765
    procs = 2
    seed = 1
    slots = 0                     # also: host token max_message_bytes deflate heartbeat_s
                                  #       resume_ttl_s replay_buffer loop
    prefill_ms_per_1k = 0         # prefill model: ms per 1000 uncached input tokens
    prefix_cache = "on"           # "on" | "off"
    max_context_tokens = 32768    # a session's context is held within this
    admin = false                 # POST /admin/drop from loopback peers (PROTOCOL.md, "Faults")
    [latency]                     # the "default" persona
    ttft_ms = 50
    itl_ms = "lognormal:10:25"
    tokens = { dist = "uniform", min = 10, max = 30 }
    tokens_per_frame = 1
    switch_ms = 0

    [personas.fast]               # unset keys follow [latency]
    ttft_ms = 10
    switch_ms = 30

    [faults]
    drop_rate = 0.01
    drop_after_s = [1, 10]
    stall_ms = 0
    stall_every_s = 0
    error_rate = 0.0
    drop_on_signal = 0.1          # on SIGUSR1, abort this fraction of the open WebSockets at once

    [limits]                      # refusals are counted in rtref_rejected_total{reason}
    max_sessions = 0              # open sessions per process (0 = unlimited)
    rate_limit_per_s = 0          # prompts per second per session (0 = unlimited) ...
    rate_limit_burst = 0          # ... with this bucket size (0 = one second's worth)
    max_inflight = 64             # prompts and persona switches in flight per session
    max_detached_sessions = 10000 # resumable sessions without a connection (the oldest is evicted)
    max_replay_bytes = 1048576    # replay buffer bytes per session (besides replay_buffer frames)
    max_header_bytes = 8190       # longest HTTP request line or header field
    handshake_timeout_s = 10      # a complete request (headers; a POST's body) must arrive within this
    slow_reader_timeout_s = 10    # a connection whose send buffer stays full this long is aborted
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.latency import Distribution, LatencyProfile, Persona, parse_distribution
from reference_server.schema import ConfigError, Setting, option, settings, toml_value, typed
from reference_server.sections import FaultConfig, LimitConfig

__all__ = [
    "DEFAULT_PERSONA",
    "FAULT_KEYS",
    "LIMIT_KEYS",
    "PROFILE_KEYS",
    "TOP_KEYS",
    "ConfigError",
    "FaultConfig",
    "LimitConfig",
    "ServerConfig",
    "load_toml",
    "parse_persona_spec",
]

DEFAULT_PERSONA = "default"


@dataclass(frozen=True)
class ServerConfig:
    """Everything one server (all of its processes) runs with."""

    host: str = option("127.0.0.1", "address to listen on", "listening")
    port: int = option(8765, "TCP port", "listening", minimum=0, maximum=65535)
    procs: int = option(1, "server processes sharing the port via SO_REUSEPORT", "listening", metavar="N", minimum=1)
    personas: Mapping[str, Persona] = field(
        default_factory=lambda: {DEFAULT_PERSONA: Persona(DEFAULT_PERSONA, LatencyProfile())}
    )
    seed: int = option(0, "seed of every random draw", "latency", metavar="S")
    token: str | None = option(
        None,
        "require 'Authorization: Bearer SECRET' (or set RTREF_TOKEN); /healthz and /metrics stay open",
        "listening",
        metavar="SECRET",
    )
    max_message_bytes: int = option(
        65536,
        "largest client message or HTTP body accepted; larger WebSocket messages close with 1009, "
        "larger bodies get 413",
        "limits",
        metavar="N",
        minimum=1,
    )
    deflate: bool = option(False, "offer permessage-deflate on WebSockets", "listening")
    heartbeat_s: float = option(
        20.0, "WebSocket ping interval in seconds; 0 = off", "listening", metavar="S", minimum=0
    )
    resume_ttl_s: float = option(60.0, "how long a dropped session stays resumable", "faults", metavar="S", minimum=0)
    replay_buffer: int = option(4096, "replayable frames kept per session", "faults", metavar="N", minimum=0)
    slots: int = option(
        0,
        "generation slots per process, 0 = unlimited; a turn waits for a free slot "
        "before its TTFT clock starts, so client-side TTFT includes the queueing",
        "latency",
        metavar="N",
        minimum=0,
    )
    prefill_ms_per_1k: float = option(
        0.0,
        "prefill model: a turn's TTFT is its persona's TTFT plus P ms per 1000 input tokens the "
        'session\'s prefix cache does not hold (PROTOCOL.md, "Conversations and the prefill model")',
        "latency",
        metavar="P",
        minimum=0,
    )
    prefix_cache: str = option(
        "on",
        "a per-session prefix cache: the last turn's context plus its reply; a turn pays prefill "
        "only for the tokens after its longest whole-message prefix in common; off = every turn "
        "pays for its whole context",
        "latency",
        choices=("on", "off"),
    )
    reasoning_tokens: int = option(
        0,
        "OpenAI chat streams: the first N tokens of every response are reasoning, sent as "
        "delta.reasoning_content before the answer's delta.content (the answer keeps its length); "
        "usage counts them in completion_tokens",
        "latency",
        metavar="N",
        minimum=0,
    )
    max_context_tokens: int = option(
        32768,
        "a session's context (system prompt, kept turns, the new message) is held within N tokens: "
        "the oldest turns beyond it are dropped",
        "limits",
        metavar="N",
        minimum=1,
    )
    loop: str = option(
        "auto", "event loop: auto = uvloop when importable", "listening", choices=("auto", "uvloop", "asyncio")
    )
    #: Serve `POST /admin/drop` to loopback peers.
    admin: bool = option(
        False,
        "serve POST /admin/drop?fraction=F (the same storm, in the process that answers) to loopback peers only",
        "faults",
    )
    faults: FaultConfig = field(default_factory=FaultConfig)
    limits: LimitConfig = field(default_factory=LimitConfig)

    @property
    def default_profile(self) -> LatencyProfile:
        return self.personas[DEFAULT_PERSONA].profile

    def replace(self, **changes: Any) -> ServerConfig:
        return dataclasses.replace(self, **changes)


# -- TOML --------------------------------------------------------------------------------------


def _keyed(cls: type) -> dict[str, Setting]:
    return {s.name: s for s in settings(cls)}


#: The keys a TOML file takes: top level, [faults], [limits], and [latency] / [personas.NAME].
TOP_KEYS = _keyed(ServerConfig)
FAULT_KEYS = _keyed(FaultConfig)
LIMIT_KEYS = _keyed(LimitConfig)
PROFILE_KEYS = frozenset(f.name for f in dataclasses.fields(LatencyProfile))


def load_toml(path: str | Path, base: ServerConfig | None = None) -> ServerConfig:
    """`base` (defaults if None) updated from the TOML file at `path`."""
    where = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    return config_from_mapping(data, where, base or ServerConfig())


def config_from_mapping(data: Mapping[str, Any], where: str, base: ServerConfig) -> ServerConfig:
    """Apply a parsed TOML document to `base`; `where` names the source in errors."""
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key in TOP_KEYS:
            changes[key] = toml_value(TOP_KEYS[key], value, f"{where}: {key}")
        elif key not in ("latency", "faults", "personas", "limits"):
            raise ConfigError(
                f"{where}: unknown key {key!r} (expected one of: {', '.join(sorted(TOP_KEYS))}, "
                "[latency], [faults], [limits], [personas.NAME])"
            )
    default = base.personas[DEFAULT_PERSONA]
    latency = _table(data, "latency", where)
    default_profile = _profile(latency, default.profile, f"{where}: latency")
    switch_ms = float(typed(latency.get("switch_ms", default.switch_ms), (int, float), f"{where}: latency.switch_ms"))
    personas = {DEFAULT_PERSONA: Persona(DEFAULT_PERSONA, default_profile, switch_ms)}
    for name, table in _table(data, "personas", where).items():
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: personas.{name}: expected a table")
        personas[name] = _persona(name, table, default_profile, f"{where}: personas.{name}")
    merged = {**base.personas, **personas}
    changes["personas"] = merged
    changes["faults"] = _faults(_table(data, "faults", where), base.faults, f"{where}: faults")
    changes["limits"] = _limits(_table(data, "limits", where), base.limits, f"{where}: limits")
    return base.replace(**changes)


def _table(data: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: {key}: expected a table")
    return value


def _distribution(value: Any, where: str) -> Distribution:
    """A number (fixed), a string like `lognormal:50:120`, or a table `{dist=..., ...}`."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return Distribution.fixed(float(value))
        if isinstance(value, str):
            return parse_distribution(value)
        if isinstance(value, dict):
            kind = value.get("dist", "fixed")
            keys = {"fixed": ("value",), "lognormal": ("median", "p95"), "uniform": ("min", "max")}.get(kind)
            if keys is None:
                raise ValueError(f"dist must be fixed, lognormal or uniform, got {kind!r}")
            extra = set(value) - {"dist", *keys}
            if extra or any(k not in value for k in keys):
                raise ValueError(f"dist={kind} takes exactly: {', '.join(keys)}")
            numbers = [float(typed(value[k], (int, float), f"{where}.{k}")) for k in keys]
            return Distribution(kind, *numbers)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    raise ConfigError(
        f"{where}: expected a number, 'lognormal:MEDIAN:P95', 'uniform:MIN:MAX' or a table with dist=..., got {value!r}"
    )


def _profile(table: Mapping[str, Any], base: LatencyProfile, where: str) -> LatencyProfile:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key == "tokens_per_frame":
            changes[key] = _positive_int(value, f"{where}.{key}")
        elif key in PROFILE_KEYS:
            changes[key] = _distribution(value, f"{where}.{key}")
        elif key != "switch_ms":
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(sorted(PROFILE_KEYS))})")
    return dataclasses.replace(base, **changes)


def _persona(name: str, table: Mapping[str, Any], base: LatencyProfile, where: str) -> Persona:
    switch_ms = float(typed(table.get("switch_ms", 0.0), (int, float), f"{where}.switch_ms"))
    if switch_ms < 0:
        raise ConfigError(f"{where}.switch_ms: expected a number >= 0, got {switch_ms:g}")
    return Persona(name, _profile(table, base, where), switch_ms)


def _positive_int(value: Any, where: str) -> int:
    number = typed(value, int, where)
    if number < 1:
        raise ConfigError(f"{where}: expected an integer >= 1, got {number}")
    return int(number)


def _faults(table: Mapping[str, Any], base: FaultConfig, where: str) -> FaultConfig:
    return dataclasses.replace(base, **_settings_table(table, FAULT_KEYS, where))


def _limits(table: Mapping[str, Any], base: LimitConfig, where: str) -> LimitConfig:
    return dataclasses.replace(base, **_settings_table(table, LIMIT_KEYS, where))


def _settings_table(table: Mapping[str, Any], keys: Mapping[str, Setting], where: str) -> dict[str, Any]:
    """A table of settings checked against `keys`; ConfigError for an unknown key or a wrong type."""
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(sorted(keys))})")
        changes[key] = toml_value(keys[key], value, f"{where}.{key}")
    return changes


def parse_persona_spec(spec: str, base: LatencyProfile) -> Persona:
    """`NAME:ttft_ms=20,itl_ms=lognormal:5:9,tokens=10,switch_ms=30` (every key optional)."""
    name, _, rest = spec.partition(":")
    if not name.strip():
        raise ConfigError(f"--persona {spec!r}: expected NAME:key=value,...")
    table: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--persona {spec!r}: {item!r} is not key=value")
        table[key.strip()] = int(value) if key.strip() == "tokens_per_frame" and value.isdigit() else value.strip()
    if "switch_ms" in table:
        try:
            table["switch_ms"] = float(table["switch_ms"])
        except ValueError:
            raise ConfigError(f"--persona {spec!r}: switch_ms: expected a number") from None
    return _persona(name.strip(), table, base, f"--persona {name.strip()}")
