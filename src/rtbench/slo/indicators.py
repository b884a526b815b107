"""What an SLO can be written about: each name, its dimension and where the summary holds its value.

- Latency metrics (`rtbench.metrics.names.LATENCY_METRICS`) take a statistic: `p95 < 100ms`, read
  from `summary["metrics"][name][stat]` in ms.
- Rates are 0..1 fractions written as percentages (`>= 99.9%`). Most are one summary path in
  `RATE_PATHS`: adding a rate is adding a row. `success` is derived (see `success_ratio`).
- Counts, target resources and goodput are one summary path each, in `OTHER_PATHS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rtbench.bundle.ratios import (
    BANDWIDTH_SAVING,
    CONNECT_SUCCESS_RATIO,
    CONNECTION_REUSE,
    CONTINUITY_RATIO,
    DELIVERY_RATIO,
    GOODPUT_PER_S,
    GOODPUT_RATIO,
    UPTIME_RATIO,
)
from rtbench.bundle.summary_types import Summary
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.slo.units import COUNT, DURATION, MEMORY, PERCENT, RATIO, THROUGHPUT, Dimension

__all__ = [
    "Indicator",
    "INDICATORS",
    "RATE_PATHS",
    "STATISTICS",
    "success_ratio",
]

#: Statistics a latency rule may name -> the key in a summary's metric object.
STATISTICS: dict[str, str] = {
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "p99.9": "p99_9",
    "max": "max",
    "mean": "mean",
}

#: Rate name -> (summary path of a 0..1 fraction, definition).
#: The definitions are those of `rtbench.bundle.ratios`, where each ratio's formula is.
RATE_PATHS: dict[str, tuple[tuple[str, ...], str]] = {
    "delivery": (("delivery", "delivery_ratio"), DELIVERY_RATIO),
    "connect_success": (("delivery", "connect_success_ratio"), CONNECT_SUCCESS_RATIO),
    "goodput_ratio": (("goodput", "ratio"), GOODPUT_RATIO),
    "uptime": (("delivery", "uptime_ratio"), UPTIME_RATIO),
    "continuity": (("delivery", "continuity_ratio"), CONTINUITY_RATIO),
    "bandwidth_saving": (("wire", "bandwidth_saving"), BANDWIDTH_SAVING),
    "connection_reuse": (("wire", "connection_reuse"), CONNECTION_REUSE),
}

_TARGET_HINT = "the target was not monitored (--target-pid or --target-metrics)"
#: Why a rate can be null beyond "absent" (an older bundle).
_RATE_HINTS = {
    "bandwidth_saving": "no WebSocket message in the reported phases (an HTTP target, or a bundle older than wire)",
    "connection_reuse": "no HTTP request in the reported phases (a WebSocket target, or a bundle older than wire)",
}

#: Name -> (dimension, summary path, definition, why a null means no data).
OTHER_PATHS: dict[str, tuple[Dimension, tuple[str, ...], str, str]] = {
    "sessions_peak": (COUNT, ("sessions", "peak"), "most sessions connected at once", "no session count"),
    "server_rss_per_session": (
        MEMORY,
        ("target", "rss_per_session_kb"),
        "target RSS above its idle baseline / sessions held",
        _TARGET_HINT,
    ),
    "server_cpu": (PERCENT, ("target", "cpu_percent_mean"), "mean CPU percent of the target", _TARGET_HINT),
    "goodput": (
        THROUGHPUT,
        ("goodput", "per_s"),
        GOODPUT_PER_S,
        "the run had no per-turn limits, so goodput was not counted",
    ),
}


def _lookup(data: Summary | None, path: tuple[str, ...]) -> Any:
    """The value at `path` in `data` (paths of RATE_PATHS and OTHER_PATHS, checked against a built
    Summary by tests/rtbench/slo/test_indicator_paths.py), None where there is none."""
    value: Any = data
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return None
        value = value[key]
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def success_ratio(summary: Summary | None) -> float | None:
    """Turns completed / (turns sent - turns cancelled at stop), from `summary["delivery"]`.

    A turn cancelled because its user was stopped at the end of the run was never given the chance
    to complete, so it counts neither way; every other sent turn that did not complete (failed, or
    lost) counts against success. None when no turn could have completed.
    """
    completed = _number(_lookup(summary, ("delivery", "turns_completed")))
    sent = _number(_lookup(summary, ("delivery", "turns_sent")))
    cancelled = _number(_lookup(summary, ("delivery", "turns_cancelled"))) or 0.0
    if completed is None or sent is None or sent - cancelled <= 0:
        return None
    return completed / (sent - cancelled)


@dataclass(frozen=True)
class Indicator:
    """A measurable name an SLO can be written about."""

    name: str
    dimension: Dimension
    definition: str
    path: tuple[str, ...] = ()
    derive: Callable[[Summary | None], float | None] | None = None
    no_data_hint: str = ""

    @property
    def takes_statistic(self) -> bool:
        """True for latency metrics, whose rules name a statistic (`p95 < 100ms`)."""
        return self.dimension is DURATION

    def measure(self, summary: Summary | None, statistic: str | None = None) -> float | None:
        """The value in the dimension's base unit, or None when the bundle has no data for it."""
        if self.derive is not None:
            return self.derive(summary)
        path = self.path + ((STATISTICS[statistic],) if statistic is not None else ())
        return _number(_lookup(summary, path))


def _build() -> dict[str, Indicator]:
    table: dict[str, Indicator] = {}
    for name, definition in LATENCY_METRICS.items():
        table[name] = Indicator(name, DURATION, definition, ("metrics", name), None, f"no {name} samples in the bundle")
    for name, (path, definition) in RATE_PATHS.items():
        hint = _RATE_HINTS.get(name, f"{'.'.join(path)} is null or absent")
        table[name] = Indicator(name, RATIO, definition, path, None, hint)
    table["success"] = Indicator(
        "success",
        RATIO,
        "turns completed / (turns sent - turns cancelled at stop)",
        derive=success_ratio,
        no_data_hint="no turn was sent",
    )
    for name, (dimension, path, definition, hint) in OTHER_PATHS.items():
        table[name] = Indicator(name, dimension, definition, path, None, hint)
    return table


#: Every name an `[slo]` table may use.
INDICATORS: dict[str, Indicator] = _build()
