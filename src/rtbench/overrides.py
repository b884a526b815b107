"""What the user typed on the command line, to lay over a scenario: `RunOverrides`.

The CLI fills it with the raw option values and parses nothing; `rtbench.scenario.resolve` parses
and checks them, naming the option in any error. A field left at None was not given (an option
can never ask for None), so the scenario's value stands; every given one is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from rtbench.config import ThinkTime, parse_duration
from rtbench.errors import ConfigError
from rtbench.trace.config import trace_file, trace_speed
from rtbench.values import (
    compression,
    expand_headers,
    parse_arrival,
    parse_header,
    parse_host_port,
    parse_source_addrs,
    parse_think_time,
    parse_workers,
    positive_int,
    validate_target,
)

__all__ = ["DEFAULT_MASTER_BIND", "RunOverrides", "apply_overrides"]

DEFAULT_MASTER_BIND = "0.0.0.0:5557"


@dataclass(frozen=True)
class RunOverrides:
    """Options given on the command line, as typed; None (or empty) means not given."""

    target: str | None = None
    protocol: str | None = None
    #: A custom adapter class, package.module:ClassName (wins over `protocol`).
    adapter: str | None = None
    #: "Name: value" headers, replacing scenario headers of the same name; ${VAR} reads the environment.
    headers: tuple[str, ...] = ()
    ca_file: str | None = None
    insecure: bool | None = None
    users: int | None = None
    spawn_rate: float | None = None
    duration: str | None = None
    think_time: str | None = None
    arrival: str | None = None
    rate: float | None = None
    max_in_flight: int | None = None
    workers: str | None = None
    source_addrs: str | None = None
    expect_workers: int | None = None
    bind: str | None = None
    worker_wait: str | None = None
    include_ramp: bool | None = None
    target_pid: int | None = None
    target_metrics: str | None = None
    seed: int | None = None
    #: A fixed amount of work: turns, or conversations (`rtbench.load.quota`).
    requests: int | None = None
    conversations: int | None = None
    export_turns: bool | None = None
    export_content: bool | None = None
    #: A trace to replay (JSONL, Mooncake JSONL or BurstGPT CSV), and its speed-up.
    trace: str | None = None
    trace_speed: float | None = None
    #: Run as `rtbench master`: --expect-workers is required and --bind defaults to 0.0.0.0:5557.
    master: bool = False
    # wire
    #: "deflate" or "none": permessage-deflate offered on WebSocket targets, or not.
    compression: str | None = None

    def given(self) -> dict[str, Any]:
        """The options the user gave, by field name."""
        skipped = {"headers", "master"}
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in skipped and getattr(self, f.name) is not None
        }


def _checked_bind(value: str) -> str:
    parse_host_port(value)
    return value


def _same(value: Any) -> Any:
    return value


# option field -> (`WIRE_KEYS` key it sets, its flag, parser); in the order options are checked
_OPTIONS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "target": ("target", "--target", validate_target),
    "protocol": ("protocol", "--protocol", _same),
    "adapter": ("protocol", "--adapter", _same),
    "ca_file": ("ca_file", "--ca-file", str),
    "insecure": ("insecure", "--insecure", _same),
    "users": ("users", "--users", _same),
    "spawn_rate": ("spawn_rate", "--spawn-rate", _same),
    "duration": ("duration", "--duration", parse_duration),
    "arrival": ("arrival", "--arrival", parse_arrival),
    "rate": ("rate", "--rate", _same),
    "max_in_flight": ("max_in_flight", "--max-in-flight", _same),
    "workers": ("workers", "--workers", parse_workers),
    "source_addrs": ("source_addrs", "--source-addrs", parse_source_addrs),
    "expect_workers": ("expect_workers", "--expect-workers", _same),
    "bind": ("master_bind", "--bind", _checked_bind),
    "worker_wait": ("worker_wait", "--worker-wait", parse_duration),
    "include_ramp": ("include_ramp", "--include-ramp", _same),
    "target_pid": ("target_pid", "--target-pid", _same),
    "target_metrics": ("target_metrics", "--target-metrics", _same),
    "seed": ("seed", "--seed", _same),
    "requests": ("requests", "--requests", positive_int),
    "conversations": ("conversations", "--conversations", positive_int),
    # wire
    "compression": ("compression", "--compression", compression),
    "export_turns": ("export_turns", "--export-turns", _same),
    "export_content": ("export_content", "--export-content", _same),
    "trace": ("trace_file", "--trace", trace_file),
    "trace_speed": ("trace_speed", "--trace-speed", trace_speed),
}


def _parsed(parse: Callable[[Any], Any], value: Any, flag: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: expected {exc}, got {value!r}") from None


def apply_overrides(values: dict[str, Any], overrides: RunOverrides) -> dict[str, Any]:
    """Lay `overrides` over a scenario's `values` (keyed as `WIRE_KEYS`), in place; return the
    values the options set, by the same keys."""
    given: dict[str, Any] = {}
    options = overrides.given()
    if overrides.think_time is not None:
        pacing = values.get("think_time", ThinkTime()).pacing
        given["think_time"] = _parsed(lambda v: parse_think_time(v, pacing), overrides.think_time, "--think-time")
    if overrides.master and not overrides.expect_workers:
        raise ConfigError("rtbench master needs --expect-workers N (the number of `rtbench worker` processes)")
    if overrides.master and overrides.bind is None:
        options["bind"] = DEFAULT_MASTER_BIND
    if overrides.headers:
        given["headers"], given["secret_headers"] = _with_headers(values, overrides.headers)
    for name, (key, flag, parse) in _OPTIONS.items():
        if name in options:
            given[key] = _parsed(parse, options[name], flag)
    values.update(given)
    return given


def _with_headers(
    values: dict[str, Any], options: tuple[str, ...]
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """The scenario's headers with the --header ones added (replacing those of the same name)."""
    pairs = tuple(_parsed(parse_header, value, "--header") for value in options)
    added, secret = expand_headers(pairs, "--header")
    names = {name.lower() for name, _ in added}
    kept = tuple(pair for pair in values.get("headers", ()) if pair[0].lower() not in names)
    return kept + added, tuple(values.get("secret_headers", ())) + secret
