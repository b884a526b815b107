"""Load shapes: how many users a run holds at each moment, as stages. The one shape module: the
`[shape]` table's spec and its compilation (pure; Locust's adapter is `rtbench.load.locust_shape`).

A scenario's `[shape]` table picks a kind:

- `ramp`:  `from_users` (default 1) to `to_users` linearly `over` a duration, then `hold` at the top.
- `step`:  `start_users`, plus `step_users` every `step_every`, for `steps` steps.
- `spike`: `users` throughout, jumping to `spike_users` at `spike_at` for `spike_for`, until `duration`.
- `soak`:  `users` held for a long `duration` (hours): leaks, drift and slow degradation show in the
           per-second timeline.
- `stages`: an explicit list of {duration, users, spawn_rate (optional)}.

Each kind compiles to `Stage`s (`compile_shape`); `ShapeSpec.at(t)` says what the run should hold
`t` seconds in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rtbench.errors import ConfigError

__all__ = ["SHAPE_KINDS", "ShapeSpec", "Stage", "compile_shape"]


@dataclass(frozen=True)
class Stage:
    """Hold `users` until `until_s` seconds into the shape, starting them at `spawn_rate`/s."""

    until_s: float
    users: int
    spawn_rate: float


@dataclass(frozen=True)
class ShapeSpec:
    """A compiled shape: its kind and its stages, in time order."""

    kind: str
    stages: tuple[Stage, ...]

    @property
    def duration(self) -> float:
        return self.stages[-1].until_s

    @property
    def peak_users(self) -> int:
        return max(stage.users for stage in self.stages)

    def at(self, elapsed_s: float) -> tuple[int, float] | None:
        """(users, spawn rate) at `elapsed_s`, or None once the shape is over."""
        for stage in self.stages:
            if elapsed_s < stage.until_s:
                return stage.users, stage.spawn_rate
        return None


def compile_shape(
    table: Mapping[str, Any],
    spawn_rate: float,
    parse_duration: Callable[[Any], float],
    where: str = "[shape]",
) -> ShapeSpec:
    """A `[shape]` table compiled into stages; `spawn_rate` is the default of those that set none.

    A bad table is a one-line ConfigError naming `where` and the key ("[shape].steps: expected ...")."""
    try:
        return _compile(table, spawn_rate, parse_duration)
    except ValueError as exc:
        raise ConfigError(f"{where}.{exc}") from None


def _compile(table: Mapping[str, Any], default_spawn_rate: float, parse_duration: Callable[[Any], float]) -> ShapeSpec:
    kind = table.get("kind")
    if kind not in SHAPE_KINDS:
        raise ValueError(f"kind: expected one of {', '.join(sorted(SHAPE_KINDS))}, got {kind!r}")
    known = SHAPE_KINDS[kind][1] | {"kind", "spawn_rate"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{unknown[0]}: unknown key for a {kind} shape (known: {', '.join(sorted(known))})")
    read = _Reader(table, parse_duration, _number(table, "spawn_rate", default_spawn_rate))
    stages = SHAPE_KINDS[kind][0](read)
    if not stages or stages[-1].until_s <= 0:
        raise ValueError("duration: expected a shape that lasts more than 0 s")
    return ShapeSpec(kind, tuple(stages))


class _Reader:
    def __init__(self, table: Mapping[str, Any], parse_duration: Callable[[Any], float], spawn_rate: float) -> None:
        self.table, self._duration, self.spawn_rate = table, parse_duration, spawn_rate

    def users(self, key: str, default: int | None = None) -> int:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key}: expected a positive integer, got {value!r}")
        return value

    def seconds(self, key: str, default: float | None = None) -> float:
        if key not in self.table and default is not None:
            return default
        try:
            return self._duration(self.table.get(key))
        except (ValueError, TypeError):
            raise ValueError(f"{key}: expected a duration such as 30s, got {self.table.get(key)!r}") from None


def _number(table: Mapping[str, Any], key: str, default: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"{key}: expected a positive number, got {value!r}")
    return float(value)


def _ramp(r: _Reader) -> list[Stage]:
    low, high, over = r.users("from_users", 1), r.users("to_users"), r.seconds("over")
    hold = r.seconds("hold", 0.0)
    rate = max(r.spawn_rate, abs(high - low) / over) if over else r.spawn_rate
    seconds = max(1, math.ceil(over))
    stages = [Stage(float(i + 1), round(low + (high - low) * i / seconds), rate) for i in range(seconds)]
    return stages + ([Stage(seconds + hold, high, rate)] if hold else [])


def _step(r: _Reader) -> list[Stage]:
    start, step, every, steps = r.users("start_users"), r.users("step_users"), r.seconds("step_every"), r.users("steps")
    return [Stage(every * (i + 1), start + step * i, r.spawn_rate) for i in range(steps)]


def _spike(r: _Reader) -> list[Stage]:
    base, peak = r.users("users"), r.users("spike_users")
    at, length, end = r.seconds("spike_at"), r.seconds("spike_for"), r.seconds("duration")
    if not 0 < at < at + length < end:
        raise ValueError("spike_at: expected 0 < spike_at < spike_at + spike_for < duration")
    return [Stage(at, base, r.spawn_rate), Stage(at + length, peak, r.spawn_rate), Stage(end, base, r.spawn_rate)]


def _soak(r: _Reader) -> list[Stage]:
    return [Stage(r.seconds("duration"), r.users("users"), r.spawn_rate)]


def _stages(r: _Reader) -> list[Stage]:
    raw = r.table.get("stages")
    if not isinstance(raw, list) or not raw or not all(isinstance(s, dict) for s in raw):
        raise ValueError("stages: expected a list of tables {duration, users, spawn_rate}")
    stages, until = [], 0.0
    for item in raw:
        sub = _Reader(item, r._duration, _number(item, "spawn_rate", r.spawn_rate))
        until += sub.seconds("duration")
        stages.append(Stage(until, sub.users("users"), sub.spawn_rate))
    return stages


#: kind -> (compiler, the keys it reads)
SHAPE_KINDS: dict[str, tuple[Callable[[_Reader], list[Stage]], set[str]]] = {
    "ramp": (_ramp, {"from_users", "to_users", "over", "hold"}),
    "step": (_step, {"start_users", "step_users", "step_every", "steps"}),
    "spike": (_spike, {"users", "spike_users", "spike_at", "spike_for", "duration"}),
    "soak": (_soak, {"users", "duration"}),
    "stages": (_stages, {"stages"}),
}
