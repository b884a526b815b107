"""`[trace]`: a trace file to replay open loop at its own times, compressed by `speed`.

[trace]
file = "trace.jsonl"   # relative to the scenario file's directory
speed = 2.0            # > 0: 2.0 sends the trace in half its recorded time
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rtbench.errors import ConfigError

__all__ = ["TraceConfig", "trace_file", "trace_speed", "trace_values"]


def trace_file(value: Any) -> str:
    """A trace file's path: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("a trace file's path")
    return value


def trace_speed(value: Any) -> float:
    """A speed-up: a number > 0 (2.0 replays the trace in half its time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError("a speed > 0 (2.0 replays the trace twice as fast)")
    return float(value)


_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "file": ("trace_file", trace_file),
    "speed": ("trace_speed", trace_speed),
}


@dataclass(frozen=True)
class TraceConfig:
    """The trace to replay (None: no trace) and its speed-up."""

    file: str | None = None
    speed: float = 1.0

    @property
    def enabled(self) -> bool:
        return self.file is not None


def trace_values(table: Any, where: Callable[[tuple[str, ...], str], str]) -> dict[str, Any]:
    """The wire values of a `[trace]` table (`RunConfig` keys); one-line errors by `where`."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where(('trace',), '')}: expected a table")
    values: dict[str, Any] = {}
    for key, raw in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{where(('trace',), key)}: unknown key; known: {', '.join(_KEYS)}")
        name, parse = _KEYS[key]
        try:
            values[name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{where(('trace',), key)}: expected {exc}, got {raw!r}") from None
    if "trace_file" not in values:
        raise ConfigError(f'{where(("trace",), "")}: needs file = "TRACE.jsonl"')
    return values
