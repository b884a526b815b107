"""The server's configuration: frozen dataclasses, and a TOML loader with one-line errors.

Precedence: built-in defaults < the TOML file (`--config`) < flags given on the command line.
Every key is optional. A latency value is a number (fixed), a string `"lognormal:MEDIAN:P95"` or
`"uniform:MIN:MAX"`, or a table `{dist = "lognormal", median = 50, p95 = 120}`:

    port = 8765
    procs = 2
    seed = 1
    slots = 0                     # also: host token max_message_bytes deflate heartbeat_s
                                  #       resume_ttl_s replay_buffer loop
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
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reference_server.latency import Distribution, LatencyProfile, Persona, parse_distribution

__all__ = [
    "DEFAULT_PERSONA",
    "ConfigError",
    "FaultConfig",
    "LimitConfig",
    "ServerConfig",
    "load_toml",
    "parse_persona_spec",
]

DEFAULT_PERSONA = "default"


class ConfigError(ValueError):
    """A configuration problem, worded as one line naming the file, the key and what was expected."""


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection, all off by default."""

    drop_rate: float = 0.0
    drop_after_s: tuple[float, float] = (1.0, 10.0)
    stall_ms: float = 0.0
    stall_every_s: float = 0.0
    error_rate: float = 0.0
    #: The fraction of open WebSockets a SIGUSR1 aborts at once (a reconnect storm); 0: SIGUSR1 is ignored.
    drop_on_signal: float = 0.0


@dataclass(frozen=True)
class LimitConfig:
    """Bounds on what clients may hold or send (PROTOCOL.md, "Limits"); a 0 turns off those that say so."""

    max_sessions: int = 0
    rate_limit_per_s: float = 0.0
    rate_limit_burst: int = 0
    max_inflight: int = 64
    max_detached_sessions: int = 10000
    max_replay_bytes: int = 2**20
    max_header_bytes: int = 8190
    handshake_timeout_s: float = 10.0
    slow_reader_timeout_s: float = 10.0

    @property
    def burst(self) -> int:
        """The rate limit's bucket size: `rate_limit_burst`, or one second's worth of prompts."""
        return self.rate_limit_burst or max(1, math.ceil(self.rate_limit_per_s))


@dataclass(frozen=True)
class ServerConfig:
    """Everything one server (all of its processes) runs with."""

    host: str = "127.0.0.1"
    port: int = 8765
    procs: int = 1
    personas: Mapping[str, Persona] = field(
        default_factory=lambda: {DEFAULT_PERSONA: Persona(DEFAULT_PERSONA, LatencyProfile())}
    )
    seed: int = 0
    token: str | None = None
    max_message_bytes: int = 65536
    deflate: bool = False
    heartbeat_s: float = 20.0
    resume_ttl_s: float = 60.0
    replay_buffer: int = 4096
    slots: int = 0
    loop: str = "auto"
    #: Serve `POST /admin/drop` to loopback peers.
    admin: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)
    limits: LimitConfig = field(default_factory=LimitConfig)

    @property
    def default_profile(self) -> LatencyProfile:
        return self.personas[DEFAULT_PERSONA].profile

    def replace(self, **changes: Any) -> ServerConfig:
        return dataclasses.replace(self, **changes)


# -- TOML --------------------------------------------------------------------------------------

_TOP_KEYS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "procs": int,
    "seed": int,
    "token": str,
    "max_message_bytes": int,
    "deflate": bool,
    "heartbeat_s": (int, float),
    "resume_ttl_s": (int, float),
    "replay_buffer": int,
    "slots": int,
    "loop": str,
    "admin": bool,
}
_FAULT_KEYS = {"drop_rate", "drop_after_s", "stall_ms", "stall_every_s", "error_rate", "drop_on_signal"}
_PROFILE_KEYS = {"ttft_ms", "itl_ms", "tokens", "tokens_per_frame"}
_LIMIT_KEYS: dict[str, type | tuple[type, ...]] = {
    f.name: (int, float) if f.type == "float" else int for f in dataclasses.fields(LimitConfig)
}


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
        if key in _TOP_KEYS:
            changes[key] = _typed(value, _TOP_KEYS[key], f"{where}: {key}")
        elif key not in ("latency", "faults", "personas", "limits"):
            raise ConfigError(
                f"{where}: unknown key {key!r} (expected one of: {', '.join(sorted(_TOP_KEYS))}, "
                "[latency], [faults], [limits], [personas.NAME])"
            )
    default = base.personas[DEFAULT_PERSONA]
    latency = _table(data, "latency", where)
    default_profile = _profile(latency, default.profile, f"{where}: latency")
    switch_ms = float(_typed(latency.get("switch_ms", default.switch_ms), (int, float), f"{where}: latency.switch_ms"))
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


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    bad_bool = isinstance(value, bool) and kind is not bool
    if bad_bool or not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigError(f"{where}: expected {names}, got {value!r}")
    return float(value) if kind == (int, float) else value


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
            numbers = [float(_typed(value[k], (int, float), f"{where}.{k}")) for k in keys]
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
        elif key in _PROFILE_KEYS:
            changes[key] = _distribution(value, f"{where}.{key}")
        elif key != "switch_ms":
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(sorted(_PROFILE_KEYS))})")
    return dataclasses.replace(base, **changes)


def _persona(name: str, table: Mapping[str, Any], base: LatencyProfile, where: str) -> Persona:
    switch_ms = float(_typed(table.get("switch_ms", 0.0), (int, float), f"{where}.switch_ms"))
    if switch_ms < 0:
        raise ConfigError(f"{where}.switch_ms: expected a number >= 0, got {switch_ms:g}")
    return Persona(name, _profile(table, base, where), switch_ms)


def _positive_int(value: Any, where: str) -> int:
    number = _typed(value, int, where)
    if number < 1:
        raise ConfigError(f"{where}: expected an integer >= 1, got {number}")
    return int(number)


def _faults(table: Mapping[str, Any], base: FaultConfig, where: str) -> FaultConfig:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _FAULT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(sorted(_FAULT_KEYS))})")
        if key == "drop_after_s":
            if not (isinstance(value, list) and len(value) == 2):
                raise ConfigError(f"{where}.drop_after_s: expected [MIN, MAX] seconds, got {value!r}")
            low, high = (float(_typed(v, (int, float), f"{where}.drop_after_s")) for v in value)
            changes[key] = (low, high)
        else:
            changes[key] = float(_typed(value, (int, float), f"{where}.{key}"))
    return dataclasses.replace(base, **changes)


def _limits(table: Mapping[str, Any], base: LimitConfig, where: str) -> LimitConfig:
    changes: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _LIMIT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (expected {', '.join(sorted(_LIMIT_KEYS))})")
        changes[key] = _typed(value, _LIMIT_KEYS[key], f"{where}.{key}")
    return dataclasses.replace(base, **changes)


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
