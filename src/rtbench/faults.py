"""A scenario's `[server]` and `[faults]` tables, for runs that start the reference server.

Both tables use the reference server's own names, read from its schema (never copied here):

- `[server]` keys are its command-line options (`ttft_ms = 50` is `--ttft-ms 50`; a list repeats
  the flag, a boolean is `--x` or `--no-x`).
- `[faults]` keys are its fault settings (the fields of `reference_server.config.FaultConfig`, as
  in its own TOML `[faults]` table), plus rtbench's process faults:

      [faults]
      drop_rate = 0.1           # fraction of connections the server drops abruptly
      drop_after_s = "5s..20s"  # when, after each connection opens (also [5, 20] or "10s")
      stall_ms = 200            # stall all sending for 200 ms ...
      stall_every_s = "10s"     # ... every 10 s
      error_rate = 0.01         # fraction of turns answered with an error frame
      drop_on_signal = 0.1      # on SIGUSR1, abort this fraction of the open WebSockets
      kill_after = "10s"        # SIGKILL the server this long into the steady state ...
      restart_after = "3s"      # ... and start it again on the same port after this long

  A `_s` setting takes seconds or a duration ("10s"). The old names `drop_after` and `stall_every`
  are refused with a one-line error that gives the new name.

The flags are checked by the server's own parser and validation (`config_from_flags`), so a bad
value is found when the scenario is read, not when the server starts. Pure: nothing starts here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reference_server.config import FaultConfig
from reference_server.flags import config_from_flags, option_keys
from reference_server.schema import Setting, flag_of, settings

__all__ = [
    "PROCESS_FAULTS",
    "RENAMED_FAULTS",
    "ServerPlan",
    "fault_keys",
    "plan_server",
    "server_flags",
]

#: [faults] keys rtbench acts on itself: it kills and restarts the server process.
PROCESS_FAULTS = ("kill_after", "restart_after")
#: Old rtbench spellings of server faults -> the server's own names.
RENAMED_FAULTS = {"drop_after": "drop_after_s", "stall_every": "stall_every_s"}

_FLAG = re.compile(r"--[a-z][a-z0-9-]*")


@dataclass(frozen=True)
class ServerPlan:
    """How rtbench starts the reference server: its flags, and when to kill and restart its process."""

    #: The `[server]` options, then the `[faults]` settings, as the server's flags.
    flags: tuple[str, ...] = ()
    #: Seconds into the steady state to SIGKILL the server (None: never).
    kill_after_s: float | None = None
    #: Seconds the server stays down before it is started again (None: it stays down).
    restart_after_s: float | None = None


def fault_keys() -> tuple[str, ...]:
    """The `[faults]` keys passed to the server: the names of its fault settings."""
    return tuple(s.name for s in settings(FaultConfig))


def plan_server(
    server: Mapping[str, Any], faults: Mapping[str, Any], parse_duration: Callable[[Any], float]
) -> ServerPlan:
    """`[server]` and `[faults]` as one plan, checked by the reference server's own parser.

    A bad key or value raises ValueError("[section].key: ..."), one line."""
    origin: dict[str, str] = {}
    flags = _tagged(server_flags(server), "[server]", origin)
    flags += _tagged(_fault_flags(faults, parse_duration), "[faults]", origin)
    try:
        config_from_flags(flags)
    except ValueError as exc:
        named = _FLAG.search(str(exc))
        where = origin.get(named.group(0), "[server]") if named else "[server]"
        raise ValueError(f"{where}: {exc}") from None
    kill = _seconds(faults, "kill_after", parse_duration)
    restart = _seconds(faults, "restart_after", parse_duration)
    if restart is not None and kill is None:
        raise ValueError("[faults].restart_after: expected kill_after too")
    return ServerPlan(tuple(flags), kill, restart)


def server_flags(table: Mapping[str, Any]) -> tuple[str, ...]:
    """`[server]` keys as reference-server flags: `ttft_ms = 50` -> ("--ttft-ms", "50").

    An unknown key raises ValueError("[server].key: ..."); values are checked by `plan_server`."""
    known = option_keys()
    flags: list[str] = []
    for key, value in table.items():
        if key not in known:
            raise ValueError(f"[server].{key}: unknown reference server option (known: {', '.join(sorted(known))})")
        flag = flag_of(key)
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, list):
            for item in value:
                flags += [flag, str(item)]
        elif isinstance(value, (int, float, str)):
            flags += [flag, str(value)]
        else:
            raise ValueError(f"[server].{key}: expected a number, string, boolean or list, got {value!r}")
    return tuple(flags)


def _fault_flags(table: Mapping[str, Any], parse_duration: Callable[[Any], float]) -> list[str]:
    known = {s.name: s for s in settings(FaultConfig)}
    flags: list[str] = []
    for key, value in table.items():
        if key in PROCESS_FAULTS:
            continue
        if key in RENAMED_FAULTS:
            raise ValueError(f"[faults].{key}: renamed {RENAMED_FAULTS[key]}, the reference server's own name")
        if key not in known:
            raise ValueError(f"[faults].{key}: unknown fault (known: {', '.join(sorted([*known, *PROCESS_FAULTS]))})")
        if known[key].kind is bool:  # a switch: --flag or --no-flag
            if not isinstance(value, bool):
                raise ValueError(f"[faults].{key}: expected true or false, got {value!r}")
            flags.append(flag_of(key) if value else "--no-" + flag_of(key)[2:])
            continue
        flags += [flag_of(key), _fault_value(known[key], value, parse_duration)]
    return flags


def _fault_value(setting: Setting, value: Any, parse_duration: Callable[[Any], float]) -> str:
    """A `[faults]` value as its flag's argument; ValueError("[faults].key: expected ...")."""
    seconds = setting.name.endswith("_s")
    try:
        if setting.kind == tuple[float, float]:
            low, high = value if isinstance(value, list) and len(value) == 2 else _range(value)
            return f"{parse_duration(low):g}:{parse_duration(high):g}"
        if seconds:
            return f"{parse_duration(value):g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError
        return f"{value:g}"
    except (ValueError, TypeError):
        expected = {
            (True, True): 'a duration or range such as "5s..20s" or [5, 20]',
            (False, True): "a duration such as 10s",
            (False, False): "a number",
        }[(setting.kind == tuple[float, float], seconds)]
        raise ValueError(f"[faults].{setting.name}: expected {expected}, got {value!r}") from None


def _range(value: Any) -> tuple[Any, Any]:
    if isinstance(value, str) and ".." in value:
        low, _, high = value.partition("..")
        return low, high
    return value, value


def _seconds(table: Mapping[str, Any], key: str, parse_duration: Callable[[Any], float]) -> float | None:
    if key not in table:
        return None
    try:
        return parse_duration(table[key])
    except ValueError:
        raise ValueError(f"[faults].{key}: expected a duration such as 10s, got {table[key]!r}") from None


def _tagged(flags: tuple[str, ...] | list[str], section: str, origin: dict[str, str]) -> list[str]:
    """`flags`, noting which table each flag came from (for errors): "--drop-rate" -> "[faults].drop_rate"."""
    for flag in flags:
        if flag.startswith("--"):
            name = flag[5:] if flag.startswith("--no-") and flag[5:] else flag[2:]
            origin[flag] = origin[f"--{name}"] = f"{section}.{name.replace('-', '_')}"
    return list(flags)
