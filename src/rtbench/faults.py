"""A scenario's `[server]` and `[faults]` tables, for runs that start the reference server.

`[server]` keys are the reference server's own options (`ttft_ms = 50` is `--ttft-ms 50`).
`[faults]` sets its fault knobs and rtbench's own process faults:

    [faults]
    drop_rate = 0.1          # fraction of connections the server drops abruptly
    drop_after = "5s..20s"   # when, after each connection opens
    stall_ms = 200           # stall all sending for 200 ms ...
    stall_every = "10s"      # ... every 10 s
    error_rate = 0.01        # fraction of turns answered with an error frame
    kill_after = "10s"       # SIGKILL the server this long into the steady state ...
    restart_after = "3s"     # ... and start it again on the same port after this long

Pure: it turns tables into server flags and a kill/restart schedule; nothing is started here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FaultPlan", "parse_faults", "server_flags"]

#: [faults] keys passed to the server: key -> (flag, kind)
_SERVER_FAULTS = {
    "drop_rate": ("--drop-rate", "fraction"),
    "drop_after": ("--drop-after-s", "range"),
    "stall_ms": ("--stall-ms", "number"),
    "stall_every": ("--stall-every-s", "duration"),
    "error_rate": ("--error-rate", "fraction"),
}
_PROCESS_FAULTS = ("kill_after", "restart_after")


@dataclass(frozen=True)
class FaultPlan:
    """Server flags for the app-level faults, and when to kill and restart the server process."""

    server_flags: tuple[str, ...] = ()
    #: Seconds into the steady state to SIGKILL the server (None: never).
    kill_after_s: float | None = None
    #: Seconds the server stays down before it is started again (None: it stays down).
    restart_after_s: float | None = None


def server_flags(table: Mapping[str, Any]) -> tuple[str, ...]:
    """`[server]` keys as reference-server flags: `ttft_ms = 50` -> ("--ttft-ms", "50")."""
    flags: list[str] = []
    for key, value in table.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, list):
            for item in value:
                flags += [flag, str(item)]
        elif isinstance(value, (int, float, str)):
            flags += [flag, str(value)]
        else:
            raise ValueError(f"{key}: expected a number, string, boolean or list, got {value!r}")
    return tuple(flags)


def parse_faults(table: Mapping[str, Any], parse_duration: Callable[[Any], float]) -> FaultPlan:
    """A `[faults]` table as a plan; a bad key or value raises ValueError("key: expected ...")."""
    flags: list[str] = []
    for key, value in table.items():
        if key in _PROCESS_FAULTS:
            continue
        if key not in _SERVER_FAULTS:
            known = ", ".join(sorted([*_SERVER_FAULTS, *_PROCESS_FAULTS]))
            raise ValueError(f"{key}: unknown fault (known: {known})")
        flag, kind = _SERVER_FAULTS[key]
        flags += [flag, _value(key, value, kind, parse_duration)]
    kill = _seconds(table, "kill_after", parse_duration)
    restart = _seconds(table, "restart_after", parse_duration)
    if restart is not None and kill is None:
        raise ValueError("restart_after: expected kill_after too")
    return FaultPlan(tuple(flags), kill, restart)


def _seconds(table: Mapping[str, Any], key: str, parse_duration: Callable[[Any], float]) -> float | None:
    if key not in table:
        return None
    try:
        return parse_duration(table[key])
    except ValueError:
        raise ValueError(f"{key}: expected a duration such as 10s, got {table[key]!r}") from None


def _value(key: str, value: Any, kind: str, parse_duration: Callable[[Any], float]) -> str:
    try:
        if kind == "fraction":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError
            return f"{value:g}"
        if kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError
            return f"{value:g}"
        if kind == "duration":
            return f"{parse_duration(value):g}"
        low, _, high = str(value).partition("..")
        return f"{parse_duration(low):g}:{parse_duration(high or low):g}"
    except (ValueError, TypeError):
        expected = {
            "fraction": "a number from 0 to 1",
            "number": "a number that is not negative",
            "duration": "a duration such as 10s",
            "range": 'a duration or range such as "5s..20s"',
        }[kind]
        raise ValueError(f"{key}: expected {expected}, got {value!r}") from None
