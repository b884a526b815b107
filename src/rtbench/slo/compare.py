"""Compare two bundles' latency percentiles: regressions and improvements against a baseline.

For each compared latency metric (see `rtbench.slo.tolerances`) and each of p50, p95, p99:

- regression:  current > baseline * (1 + tolerance)  AND  current - baseline > floor
- improvement: current < baseline * (1 - tolerance)  AND  baseline - current > floor
- ok:          otherwise
- few samples: either bundle has fewer than `min_tail_samples` values above the percentile
               (count * (1 - q)), so it is not judged (never a regression)
- no data:     the metric or percentile is missing from one of the bundles (never a regression)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.slo.tolerances import Tolerances

__all__ = [
    "Comparison",
    "COMPARED_PERCENTILES",
    "REGRESSION",
    "IMPROVEMENT",
    "OK",
    "NO_DATA",
    "FEW_SAMPLES",
    "compare",
    "comparability_warnings",
]

COMPARED_PERCENTILES: tuple[str, ...] = ("p50", "p95", "p99")
REGRESSION, IMPROVEMENT, OK, NO_DATA, FEW_SAMPLES = "regression", "improvement", "ok", "no data", "few samples"
#: Run settings that make two bundles' latencies hard to compare when they differ.
_COMPARABLE_KEYS: tuple[tuple[str, ...], ...] = (
    ("scenario",),
    ("include_ramp",),
    ("config", "protocol"),
    ("config", "users"),
    ("config", "workers"),
)


@dataclass(frozen=True)
class Comparison:
    """One metric percentile of the current run against the baseline's (ms).

    `delta_ms` is current - baseline (positive: slower); `delta_percent` is it as a percentage
    of the baseline. `tolerance` (relative, 0.10 = 10%) and `floor_ms` are the limits applied;
    `status` is "regression", "improvement", "ok", "few samples" or "no data". `samples` is the
    smaller of the two bundles' value counts for the metric (None when unknown).
    """

    metric: str
    percentile: str
    baseline_ms: float | None
    current_ms: float | None
    delta_ms: float | None
    delta_percent: float | None
    tolerance: float
    floor_ms: float
    status: str
    samples: int | None = None

    @property
    def label(self) -> str:
        return f"{self.metric} {self.percentile}"

    @property
    def regressed(self) -> bool:
        return self.status == REGRESSION


def _figures(summary: Summary | None, metric: str) -> Mapping[str, Any]:
    metrics = summary.get("metrics") if summary is not None else None
    figures = metrics.get(metric) if isinstance(metrics, Mapping) else None
    return figures if isinstance(figures, Mapping) else {}


def _percentile(summary: Summary | None, metric: str, percentile: str) -> float | None:
    value = _figures(summary, metric).get(percentile)
    return None if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)


def _count(summary: Summary | None, metric: str) -> int | None:
    value = _figures(summary, metric).get("count")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _tail(percentile: str, samples: int) -> float:
    """Values above a percentile ("p95", "p99_9") among `samples`."""
    return samples * (1 - float(percentile.lstrip("p").replace("_", ".")) / 100.0)


def _status(current: float, baseline: float, tolerance: float, floor_ms: float) -> str:
    if current > baseline * (1 + tolerance) and current - baseline > floor_ms:
        return REGRESSION
    if current < baseline * (1 - tolerance) and baseline - current > floor_ms:
        return IMPROVEMENT
    return OK


def compare_one(
    metric: str,
    percentile: str,
    current: float | None,
    baseline: float | None,
    tolerance: float,
    floor_ms: float,
    samples: int | None = None,
    min_tail_samples: int = 0,
) -> Comparison:
    """The comparison of one percentile (values in ms, None when missing; `samples` the smaller
    value count of the two bundles, None when unknown: then it is judged whatever the count)."""
    if current is None or baseline is None:
        return Comparison(metric, percentile, baseline, current, None, None, tolerance, floor_ms, NO_DATA, samples)
    delta = round(current - baseline, 6)
    percent = round(delta / baseline * 100.0, 3) if baseline else None
    if samples is not None and _tail(percentile, samples) < min_tail_samples:
        status = FEW_SAMPLES
    else:
        status = _status(current, baseline, tolerance, floor_ms)
    return Comparison(metric, percentile, baseline, current, delta, percent, tolerance, floor_ms, status, samples)


def compare(
    current: Summary | None,
    baseline: Summary | None,
    tolerances: Tolerances | None = None,
    percentiles: tuple[str, ...] = COMPARED_PERCENTILES,
) -> list[Comparison]:
    """Compare two summary.json dicts: one row per compared metric and percentile.

    Metrics present in either bundle are compared (a metric in one only gives "no data" rows);
    the order is that of `rtbench.metrics.names.LATENCY_METRICS`.
    """
    tolerances = tolerances or Tolerances()
    names = {m for summary in (current, baseline) if summary is not None for m in summary.get("metrics", {})}
    rows: list[Comparison] = []
    for metric in tolerances.compared(names):
        tolerance = tolerances.for_metric(metric)
        assert tolerance is not None  # compared() keeps only metrics with a tolerance
        counts = [c for c in (_count(current, metric), _count(baseline, metric)) if c is not None]
        samples = min(counts) if len(counts) == 2 else None
        for percentile in percentiles:
            rows.append(
                compare_one(
                    metric,
                    percentile,
                    _percentile(current, metric, percentile),
                    _percentile(baseline, metric, percentile),
                    tolerance,
                    tolerances.floor_ms,
                    samples,
                    tolerances.min_tail_samples,
                )
            )
    return rows


def _value(summary: Summary | None, path: tuple[str, ...]) -> Any:
    value: Any = summary
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def comparability_warnings(current: Summary | None, baseline: Summary | None) -> list[str]:
    """One line per run setting that differs between the bundles (scenario, users, ...)."""
    warnings = []
    for path in _COMPARABLE_KEYS:
        mine, theirs = _value(current, path), _value(baseline, path)
        if mine != theirs:
            warnings.append(f"{'.'.join(path)} differs: {mine!r} here, {theirs!r} in the baseline")
    return warnings
