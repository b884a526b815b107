"""Evaluate an SLO spec against a bundle's summary: one `RuleResult` per rule, in a `Verdict`.

Measured values are converted to the unit the threshold was written in (a 10MB threshold shows
the measured memory in MB). A rule whose value the bundle does not hold fails with "no data":
an SLO never passes silently.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.slo.format import format_quantity
from rtbench.slo.indicators import INDICATORS
from rtbench.slo.spec import Rule, SloSpec, turn_limits

__all__ = ["RuleResult", "Verdict", "evaluate", "evaluate_rule", "goodput_warnings", "OPERATORS"]

#: Rule operators: the comparison of (measured, threshold) that passes.
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_DIGITS = 9  # measured values are rounded to this many decimals, so 0.999 * 100 is 99.9


@dataclass(frozen=True)
class RuleResult:
    """The outcome of one rule.

    Attributes:
        name: the SLO's name, e.g. "ttft".
        label: the name with the statistic, e.g. "ttft p95" (the name alone for rates and counts).
        expression: the rule as written, e.g. "p95 < 100ms".
        statistic: "p95", "p99.9", "max", "mean", ... or None.
        operator: "<", "<=", ">" or ">=".
        threshold: the bound, in `unit`.
        unit: "ms", "s", "%", "KB", "MB", "/s", or "" for a count.
        measured: the bundle's value in `unit`, or None when it has no data.
        passed: whether the rule holds (False without data).
        margin: how far inside the bound (positive) or outside it (negative), in `unit`.
        margin_percent: `margin` as a percentage of the threshold (None for a zero threshold).
        note: the SLO's description from the spec.
        detail: why there is no value ("no data: ..."), else "".
    """

    name: str
    label: str
    expression: str
    statistic: str | None
    operator: str
    threshold: float
    unit: str
    measured: float | None
    passed: bool
    margin: float | None
    margin_percent: float | None
    note: str = ""
    detail: str = ""

    @property
    def status(self) -> str:
        """ "pass", "fail" or "no data"."""
        if self.measured is None:
            return "no data"
        return "pass" if self.passed else "fail"


@dataclass(frozen=True)
class Verdict:
    """Every rule's result, in spec order. `source` names the spec (a file or a bundle);
    `warnings` are lines about results the spec reads differently from how the run counted them."""

    results: tuple[RuleResult, ...]
    source: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every rule holds (and trivially when there are none)."""
        return all(r.passed for r in self.results)

    @property
    def breached(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if not r.passed)


def _margin(rule: Rule, measured: float) -> float:
    inside = rule.threshold.value - measured if rule.operator in ("<", "<=") else measured - rule.threshold.value
    return round(inside, _DIGITS)


def evaluate_rule(rule: Rule, summary: Summary | None, note: str = "") -> RuleResult:
    """The result of one rule against a summary."""
    indicator = INDICATORS[rule.name]
    base = indicator.measure(summary, rule.statistic)
    threshold, unit = rule.threshold.value, rule.threshold.unit
    result = partial(
        RuleResult,
        name=rule.name,
        label=rule.label,
        expression=rule.expression,
        statistic=rule.statistic,
        operator=rule.operator,
        threshold=threshold,
        unit=unit,
        note=note,
    )
    if base is None:
        return result(
            measured=None,
            passed=False,
            margin=None,
            margin_percent=None,
            detail=f"no data: {indicator.no_data_hint}",
        )
    measured = round(base * indicator.dimension.factor(unit), _DIGITS)
    margin = _margin(rule, measured)
    return result(
        measured=measured,
        passed=OPERATORS[rule.operator](measured, threshold),
        margin=margin,
        margin_percent=None if threshold == 0 else round(margin / abs(threshold) * 100.0, 6),
    )


def _limits_text(limits: Mapping[str, Any]) -> str:
    return ", ".join(f"{metric} {format_quantity(float(ms), 'ms')}" for metric, ms in limits.items()) or "none"


def goodput_warnings(spec: SloSpec, summary: Summary | None) -> list[str]:
    """A line when the spec judges goodput but the run counted it with other per-turn limits."""
    if summary is None or not any(rule.name in ("goodput", "goodput_ratio") for rule in spec.rules):
        return []
    goodput = summary.get("goodput")
    counted = goodput.get("limits_ms") if isinstance(goodput, Mapping) else None
    wanted = turn_limits(spec)
    if not counted or {m: float(ms) for m, ms in counted.items()} == wanted:
        return []
    return [f"goodput was counted with per-turn limits {_limits_text(counted)}, not this spec's {_limits_text(wanted)}"]


def evaluate(spec: SloSpec, summary: Summary | None) -> Verdict:
    """Evaluate every rule of `spec` against `summary` (None: no summary.json, so no data)."""
    results = [
        evaluate_rule(rule, summary, objective.note) for objective in spec.objectives for rule in objective.rules
    ]
    return Verdict(tuple(results), spec.source, tuple(goodput_warnings(spec, summary)))
