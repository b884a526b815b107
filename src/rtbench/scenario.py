"""Scenario files: TOML in, a validated `RunConfig` out, with one-line errors naming file and key."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rtbench.config import RunConfig, ThinkTime
from rtbench.errors import ConfigError
from rtbench.faults import plan_server
from rtbench.shape import compile_shape

__all__ = [
    "check_open_loop",
    "parse_arrival",
    "expand_headers",
    "load_scenario",
    "parse_duration",
    "parse_header",
    "parse_host_port",
    "parse_source_addrs",
    "parse_think_time",
    "parse_workers",
    "read_toml",
    "validate_target",
]

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
TARGET_SCHEMES = ("ws", "wss", "http", "https")


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


def parse_think_time(value: Any, pacing: bool = False) -> ThinkTime:
    """A think time from a duration ("2s") or a range ("1s..3s", or a two-item list)."""
    if isinstance(value, list) and len(value) == 2:
        low, high = (parse_duration(v) for v in value)
    elif isinstance(value, str) and ".." in value:
        low, high = (parse_duration(v) for v in value.split("..", 1))
    else:
        low = high = parse_duration(value)
    if high < low:
        raise ValueError("a range whose low end is not above its high end")
    return ThinkTime(low=low, high=high, pacing=pacing)


def validate_target(url: str) -> str:
    """Return `url` if it is a ws/wss/http/https URL with a host, else raise ValueError."""
    parsed = urlparse(url)
    if parsed.scheme not in TARGET_SCHEMES or not parsed.hostname:
        raise ValueError("a ws://, wss://, http:// or https:// URL with a host")
    return url


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("a positive integer")
    return value


def _non_negative_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("an integer that is not negative")
    return value


def _positive_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError("a positive number")
    return float(value)


def _probability(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("a number from 0 to 1")
    return float(value)


def _at_least_one(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1:
        raise ValueError("a number of at least 1")
    return float(value)


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a non-empty string")
    return value


def _string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError("a non-empty list of strings")
    return tuple(value)


def _weights(value: Any) -> tuple[tuple[str, float], ...]:
    if not isinstance(value, dict) or not value:
        raise ValueError("a table of persona = weight")
    pairs = tuple((str(k), _positive_number(v)) for k, v in value.items())
    return pairs


def _string_table(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise ValueError('a table of name = "value" strings')
    return tuple((str(k), v) for k, v in value.items())


def parse_host_port(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """("host", port) from "HOST:PORT" or ":PORT"."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("HOST:PORT, e.g. 0.0.0.0:5557")
    return (host.strip("[]") or default_host), int(port)


def parse_header(value: str) -> tuple[str, str]:
    """("Name", "value") from "Name: value"."""
    name, sep, rest = value.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError('a header such as "Authorization: Bearer ${API_KEY}"')
    return name.strip(), rest.strip()


def expand_headers(
    pairs: tuple[tuple[str, str], ...], where: str
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """Headers with `${VAR}` replaced from the environment, and the names of those that used one
    (they are secrets, redacted in bundles). An unset variable is a one-line `ConfigError`."""
    expanded, secret = [], []

    def lookup(match: re.Match[str]) -> str:
        value = os.environ.get(match.group(1))
        if value is None:
            raise ConfigError(f"{where}: environment variable {match.group(1)} is not set")
        return value

    for name, value in pairs:
        new = _ENV_REFERENCE.sub(lookup, value)
        if new != value or _ENV_REFERENCE.search(value):
            secret.append(name)
        expanded.append((name, new))
    return tuple(expanded), tuple(secret)


ARRIVALS = ("closed", "constant", "poisson")


def parse_arrival(value: Any) -> str:
    """ "closed" (the default), or an open-loop arrival process: "constant" or "poisson"."""
    if value not in ARRIVALS:
        raise ValueError(f"one of {', '.join(ARRIVALS)}")
    return str(value)


def check_open_loop(config: RunConfig, where: str) -> None:
    """Open-loop arrivals need a rate; a rate or in-flight cap needs open-loop arrivals."""
    if config.arrival != "closed" and config.rate is None:
        raise ConfigError(f"{where}: {config.arrival} arrivals need a rate (turns/s), e.g. --rate 100")
    if config.arrival == "closed" and (config.rate is not None or config.max_in_flight is not None):
        raise ConfigError(f"{where}: a rate or max_in_flight needs open-loop arrivals (constant or poisson)")


def parse_workers(value: Any) -> int:
    """A worker count from a positive integer or "auto" (0 in `RunConfig`: decided before the run)."""
    if value == "auto":
        return 0
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError('a positive integer or "auto"')
    return value


MAX_SOURCE_ADDRS = 4096


def parse_source_addrs(value: str) -> tuple[str, ...]:
    """Addresses from "127.0.0.2-127.0.0.9" (a range), "127.0.0.2,127.0.0.3" or a mix."""
    addrs: list[str] = []
    for part in (p.strip() for p in value.split(",")):
        first, sep, last = part.partition("-")
        try:
            start = ipaddress.ip_address(first.strip())
            end = ipaddress.ip_address(last.strip()) if sep else start
        except ValueError:
            raise ValueError("IP addresses, as a range 127.0.0.2-127.0.0.9 or a list a,b") from None
        if end.version != start.version or int(end) < int(start):
            raise ValueError("a range whose first address is not after its last")
        if int(end) - int(start) + len(addrs) >= MAX_SOURCE_ADDRS:
            raise ValueError(f"at most {MAX_SOURCE_ADDRS} addresses")
        addrs += [str(start + offset) for offset in range(int(end) - int(start) + 1)]
    return tuple(dict.fromkeys(addrs))


def _source_addrs(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError('addresses such as "127.0.0.2-127.0.0.9"')
    return parse_source_addrs(value)


def _optional_file(value: Any) -> str:
    path = Path(_string(value)).expanduser()
    if not path.is_file():
        raise ValueError("the path of an existing file")
    return str(path)


# (section, key) -> (RunConfig field, parser)
_FIELDS: dict[tuple[str, str], tuple[str, Callable[[Any], Any]]] = {
    ("scenario", "name"): ("scenario", _string),
    ("scenario", "seed"): ("seed", lambda v: _non_negative_int(v)),
    ("target", "url"): ("target", lambda v: validate_target(_string(v))),
    ("target", "protocol"): ("protocol", _string),
    ("target", "connect_timeout"): ("connect_timeout", parse_duration),
    ("target", "turn_timeout"): ("turn_timeout", parse_duration),
    ("target", "first_token_timeout"): ("first_token_timeout", parse_duration),
    ("target", "idle_timeout"): ("idle_timeout", parse_duration),
    ("target", "headers"): ("headers", _string_table),
    ("target", "ca_file"): ("ca_file", _optional_file),
    ("target", "insecure"): ("insecure", lambda v: _bool(v)),
    ("target", "pid"): ("target_pid", _positive_int),
    ("target", "metrics_url"): ("target_metrics", _string),
    ("load", "users"): ("users", _positive_int),
    ("load", "spawn_rate"): ("spawn_rate", _positive_number),
    ("load", "duration"): ("duration", parse_duration),
    ("load", "workers"): ("workers", lambda v: parse_workers(v)),
    ("load", "source_addrs"): ("source_addrs", lambda v: _source_addrs(v)),
    ("load", "arrival"): ("arrival", lambda v: parse_arrival(v)),
    ("load", "rate"): ("rate", _positive_number),
    ("load", "max_in_flight"): ("max_in_flight", _positive_int),
    ("load", "stop_grace"): ("stop_grace", parse_duration),
    ("load", "include_ramp"): ("include_ramp", lambda v: _bool(v)),
    ("prompts", "texts"): ("prompts", _string_list),
    ("prompts", "max_tokens"): ("max_tokens", _positive_int),
    ("personas", "mix"): ("personas", _weights),
    ("personas", "switch_probability"): ("persona_switch_probability", _probability),
    ("recovery", "enabled"): ("recovery", lambda v: _bool(v)),
    ("recovery", "backoff_initial"): ("recovery_backoff_initial", parse_duration),
    ("recovery", "backoff_max"): ("recovery_backoff_max", parse_duration),
    ("recovery", "backoff_multiplier"): ("recovery_backoff_multiplier", _at_least_one),
    ("recovery", "jitter"): ("recovery_jitter", _probability),
    ("recovery", "max_retries"): ("recovery_max_retries", _positive_int),
}
_SPECIAL_KEYS = {("load", "think_time"), ("load", "pacing")}
_FREE_SECTIONS = {"slo", "faults", "server", "adapter", "shape"}


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def read_toml(path: Path, kind: str) -> tuple[str, dict[str, Any]]:
    """A TOML file's text and table; a missing, unreadable or invalid file is a one-line
    `ConfigError` naming the file (`kind` says what it should be, e.g. "scenario")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {kind} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def load_scenario(path: str | Path) -> RunConfig:
    """Read and validate a scenario file. Every problem is a `ConfigError` with one line."""
    path = Path(path)
    _, data = read_toml(path, "scenario")
    return config_from_table(data, source=str(path))


def config_from_table(data: dict[str, Any], source: str = "<scenario>") -> RunConfig:
    """Build a `RunConfig` from an already parsed scenario table."""
    values: dict[str, Any] = {"source_file": source, "scenario": Path(source).stem}
    for section, table in data.items():
        if section in _FREE_SECTIONS:
            continue
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}]: expected a table")
        for key, raw in table.items():
            where = f"{source}: [{section}].{key}"
            if (section, key) in _SPECIAL_KEYS:
                continue
            if (section, key) not in _FIELDS:
                raise ConfigError(f"{where}: unknown key")
            name, parse = _FIELDS[(section, key)]
            try:
                values[name] = parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{where}: expected {exc}, got {raw!r}") from None
    load = data.get("load", {})
    if "think_time" in load or "pacing" in load:
        where = f"{source}: [load].think_time"
        try:
            pacing = _bool(load.get("pacing", False))
            values["think_time"] = parse_think_time(load.get("think_time", 1.0), pacing)
        except ValueError as exc:
            raise ConfigError(f"{where}: expected {exc}, got {load.get('think_time')!r}") from None
    if "headers" in values:
        values["headers"], values["secret_headers"] = expand_headers(values["headers"], f"{source}: [target].headers")
    sections = (
        ("slo", "slo"),
        ("adapter", "adapter_options"),
        ("shape", "shape"),
        ("server", "server"),
        ("faults", "faults"),
    )
    for section, field_name in sections:
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}]: expected a table")
        values[field_name] = table
    try:
        plan_server(values["server"], values["faults"], parse_duration)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if values["shape"]:
        spawn_rate = values.get("spawn_rate", RunConfig.spawn_rate)
        spec = compile_shape(values["shape"], spawn_rate, parse_duration, f"{source}: [shape]")
        values.update(users=spec.peak_users, duration=spec.duration)
    config = RunConfig(**values)
    check_open_loop(config, f"{source}: [load]")
    return config
