"""How much slower than its baseline a run may be: a relative tolerance per metric and a floor.

A percentile regresses when `current > baseline * (1 + tolerance)` AND `current - baseline > floor`.
The floor (1 ms by default) keeps sub-millisecond jitter from failing a build. A percentile with
fewer than `min_tail_samples` (10 by default) values above it in either bundle is not judged
("few samples"): the p99 of 200 turns is their second-highest value, too noisy to gate a build.

Settings, each overriding the one before:

1. defaults: 10% for every latency metric except `client_lag` (it measures the load generator,
   not the target, so it is not compared unless given a tolerance), floor 1 ms;
2. an `[slo.regression]` table in the scenario or `--slo` file::

       [slo.regression]
       default = "10%"     # every compared metric
       floor = "1ms"       # absolute floor, a duration
       ttft = "5%"         # one metric's tolerance
       connect = "off"     # not compared
       client_lag = "50%"  # compared, though it is not by default
       min_tail_samples = 10  # values above a percentile needed to judge it (0: always)

3. `--max-regression 10%` (the default tolerance) and `--max-regression ttft=5%` (one metric,
   repeatable, `=off` to skip it), and `--regression-floor 2ms`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from rtbench.errors import ConfigError
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.slo.units import DURATION, PERCENT, parse_quantity

__all__ = [
    "Tolerances",
    "NOT_COMPARED_BY_DEFAULT",
    "OFF",
    "parse_tolerance",
    "parse_floor",
    "with_overrides",
    "from_options",
]

OFF = "off"
#: Latency metrics left out of comparisons unless a tolerance is given for them.
NOT_COMPARED_BY_DEFAULT: frozenset[str] = frozenset({"client_lag"})
_EXPECTED_TOLERANCE = "a percentage such as 10%, or off"


@dataclass(frozen=True)
class Tolerances:
    """Relative tolerances (0.10 = 10%) and the absolute floor in ms.

    `per_metric` pairs a metric with its tolerance, or with None when it is not compared.
    `min_tail_samples`: values above a percentile (count * (1 - q)) needed to judge it.
    """

    default: float = 0.10
    floor_ms: float = 1.0
    per_metric: tuple[tuple[str, float | None], ...] = ()
    min_tail_samples: int = 10

    def for_metric(self, metric: str) -> float | None:
        """The metric's tolerance, or None when the metric is not compared."""
        explicit = dict(self.per_metric)
        if metric in explicit:
            return explicit[metric]
        return None if metric in NOT_COMPARED_BY_DEFAULT else self.default

    def compared(self, metrics: Iterable[str]) -> list[str]:
        """The metrics to compare among `metrics`, in the order of LATENCY_METRICS, then by name."""
        order = {name: index for index, name in enumerate(LATENCY_METRICS)}
        chosen = {m for m in metrics if self.for_metric(m) is not None}
        return sorted(chosen, key=lambda m: (order.get(m, len(order)), m))


def parse_tolerance(text: object) -> float | None:
    """0.05 from "5%", None from "off". Raises ValueError naming what was expected."""
    if isinstance(text, str) and text.strip().lower() == OFF:
        return None
    if not isinstance(text, str):
        raise ValueError(_EXPECTED_TOLERANCE)
    try:
        value, _ = parse_quantity(text, PERCENT)
    except ValueError:
        raise ValueError(_EXPECTED_TOLERANCE) from None
    return value / 100.0


def parse_floor(text: object) -> float:
    """Milliseconds from a duration such as "1ms" or "0.5s". Raises ValueError."""
    if not isinstance(text, str):
        raise ValueError(DURATION.expected)
    value, unit = parse_quantity(text, DURATION)
    return value / DURATION.factor(unit)


def with_overrides(
    base: Tolerances,
    default: float | None = None,
    floor_ms: float | None = None,
    per_metric: Iterable[tuple[str, float | None]] = (),
) -> Tolerances:
    """`base` with a new default, floor or per-metric tolerances (later pairs win)."""
    merged = dict(base.per_metric)
    merged.update(per_metric)
    return replace(
        base,
        default=base.default if default is None else default,
        floor_ms=base.floor_ms if floor_ms is None else floor_ms,
        per_metric=tuple(merged.items()),
    )


def _metric(name: str) -> str:
    if name not in LATENCY_METRICS:
        raise ValueError(f"a latency metric ({', '.join(LATENCY_METRICS)}), got {name!r}")
    return name


def from_options(base: Tolerances, max_regression: Iterable[str] = (), floor: str | None = None) -> Tolerances:
    """`base` with the CLI's `--max-regression` values ("10%", "ttft=5%", "ttft=off") and floor.

    Raises ConfigError naming the option, e.g. `--max-regression: 'ttft=fast': expected ...`.
    """
    default: float | None = None
    per_metric: list[tuple[str, float | None]] = []
    for value in max_regression:
        try:
            if "=" in value:
                name, _, tolerance = value.partition("=")
                per_metric.append((_metric(name.strip()), parse_tolerance(tolerance)))
            else:
                parsed = parse_tolerance(value)
                if parsed is None:
                    raise ValueError("a percentage such as 10% (or metric=off for one metric)")
                default = parsed
        except ValueError as exc:
            raise ConfigError(f"--max-regression: {value!r}: expected {exc}") from None
    floor_ms = None
    if floor is not None:
        try:
            floor_ms = parse_floor(floor)
        except ValueError as exc:
            raise ConfigError(f"--regression-floor: {floor!r}: expected {exc}") from None
    return with_overrides(base, default, floor_ms, per_metric)
