"""The SLO spec: an `[slo]` TOML table parsed into rules, with one-line errors naming file and line.

An entry names an indicator (`rtbench.slo.indicators.INDICATORS`) and holds its rules::

    [slo]
    ttft = "p95 < 100ms"                                  # one rule
    itl = ["p95 < 50ms", "p99 < 100ms"]                   # several
    e2e = { rules = ["p95 < 2s"], note = "why it holds" } # with a description
    delivery = ">= 99.9%"                                 # rates, counts, resources: no statistic

A rule is `[statistic] operator quantity`: statistics p50, p90, p95, p99, p99.9, max, mean (latency
metrics only); operators <, <=, >, >=; units ms, s, %, KB, MB, /s, or none for counts.

Two sub-tables are not SLOs:

- `[slo.per_turn]` sets the per-turn limits behind goodput (`ttft = "100ms"`, also tpot, e2e). See
  `turn_limits`.
- `[slo.regression]` sets the baseline comparison's tolerances (`rtbench.slo.tolerances`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rtbench.errors import ConfigError
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.slo.format import format_quantity
from rtbench.slo.indicators import INDICATORS, STATISTICS, Indicator
from rtbench.slo.tolerances import Tolerances, parse_floor, parse_tolerance
from rtbench.slo.units import DURATION, parse_quantity
from rtbench.toml_lines import key_line

__all__ = [
    "Threshold",
    "Rule",
    "Objective",
    "SloSpec",
    "PER_TURN_METRICS",
    "parse_slo_table",
    "turn_limits",
]

#: Metrics a per-turn (goodput) limit may be set for: each is measured once per turn.
PER_TURN_METRICS: tuple[str, ...] = ("ttft", "tpot", "e2e")
_ENTRY_KEYS = {"rules", "note"}
_RULE = re.compile(r"^\s*(?:(?P<statistic>[A-Za-z][\w.]*)\s*)?(?P<operator><=|>=|<|>)\s*(?P<quantity>.*?)\s*$")
_ENTRY_FORMS = 'a rule such as "p95 < 100ms", a list of rules, or { rules = [...], note = "..." }'


@dataclass(frozen=True)
class Threshold:
    """A rule's bound: `value` in `unit` ("ms", "s", "%", "KB", "MB", "/s", or "" for a count)."""

    value: float
    unit: str

    def __str__(self) -> str:
        return format_quantity(self.value, self.unit)


@dataclass(frozen=True)
class Rule:
    """One rule of an SLO, e.g. name "ttft", statistic "p95", operator "<", threshold 100 ms."""

    name: str
    expression: str
    statistic: str | None
    operator: str
    threshold: Threshold

    @property
    def label(self) -> str:
        """ "ttft p95", or just the name for rules without a statistic."""
        return self.name if self.statistic is None else f"{self.name} {self.statistic}"


@dataclass(frozen=True)
class Objective:
    """One `[slo]` entry: its rules and the description (`note`) written with them."""

    name: str
    rules: tuple[Rule, ...]
    note: str = ""


@dataclass(frozen=True)
class SloSpec:
    """A parsed `[slo]` table. `source` names where it came from (a file, or a bundle)."""

    objectives: tuple[Objective, ...] = ()
    per_turn_ms: tuple[tuple[str, float], ...] = ()
    tolerances: Tolerances = field(default_factory=Tolerances)
    source: str = ""

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(rule for objective in self.objectives for rule in objective.rules)

    def note_for(self, name: str) -> str:
        return next((o.note for o in self.objectives if o.name == name), "")


@dataclass(frozen=True)
class _Where:
    """Where a table came from, to build `file:line: key: detail` errors."""

    source: str
    text: str | None
    table: tuple[str, ...]

    def error(self, key: str, detail: str, sub: tuple[str, ...] = ()) -> ConfigError:
        line = key_line(self.text, self.table + sub, key) if self.text is not None else None
        place = f"{self.source}:{line}" if line is not None else self.source
        return ConfigError(f"{place}: {'.'.join((*sub, key))}: {detail}")


def parse_slo_table(
    table: Mapping[str, Any], source: str = "<slo>", text: str | None = None, at: tuple[str, ...] = ("slo",)
) -> SloSpec:
    """Parse an `[slo]` table (already read by tomllib). `text` is the TOML it came from, for
    line numbers, and `at` the table's path in it. Raises a one-line ConfigError."""
    where = _Where(source, text, at)
    objectives: list[Objective] = []
    per_turn: tuple[tuple[str, float], ...] = ()
    tolerances = Tolerances()
    for key, raw in table.items():
        if key == "per_turn":
            per_turn = _per_turn(raw, where)
        elif key == "regression":
            tolerances = _regression(raw, where)
        else:
            objectives.append(_objective(key, raw, where))
    return SloSpec(tuple(objectives), per_turn, tolerances, source)


def _objective(name: str, raw: Any, where: _Where) -> Objective:
    indicator = INDICATORS.get(name)
    if indicator is None:
        known = ", ".join([*INDICATORS, "per_turn", "regression"])
        raise where.error(name, f"unknown SLO; expected one of {known}")
    note: Any = ""
    if isinstance(raw, Mapping):
        unknown = sorted(set(raw) - _ENTRY_KEYS)
        if unknown or "rules" not in raw:
            raise where.error(name, f'expected {{ rules = [...], note = "..." }}, got keys {sorted(raw)}')
        raw, note = raw["rules"], raw.get("note", "")
        if not isinstance(note, str):
            raise where.error(name, "expected the note to be a string")
    expressions = [raw] if isinstance(raw, str) else raw
    if not isinstance(expressions, list) or not expressions or not all(isinstance(e, str) for e in expressions):
        raise where.error(name, f"expected {_ENTRY_FORMS}")
    return Objective(name, tuple(_rule(indicator, e, where) for e in expressions), note.strip())


def split_rule(expression: str) -> tuple[str | None, str, str]:
    """(statistic or None, operator, quantity text) of "p95 < 100ms"; ValueError without an operator."""
    match = _RULE.match(expression)
    if match is None:
        raise ValueError(expression)
    return match.group("statistic"), match.group("operator"), match.group("quantity")


def _rule(indicator: Indicator, expression: str, where: _Where) -> Rule:
    example = indicator.dimension.example_rule
    try:
        statistic, operator, quantity = split_rule(expression)
    except ValueError:
        raise where.error(indicator.name, f'"{expression}": expected a rule such as "{example}"') from None
    if indicator.takes_statistic and statistic not in STATISTICS:
        got = "" if statistic is None else f", got {statistic!r}"
        raise where.error(
            indicator.name,
            f'"{expression}": expected a statistic ({", ".join(STATISTICS)}) before the operator, '
            f'as in "{example}"{got}',
        )
    if not indicator.takes_statistic and statistic is not None:
        raise where.error(
            indicator.name, f'"{expression}": expected no statistic for {indicator.name}, as in "{example}"'
        )
    try:
        value, unit = parse_quantity(quantity, indicator.dimension)
    except ValueError as exc:
        raise where.error(indicator.name, f'"{expression}": expected {exc}') from None
    return Rule(indicator.name, expression.strip(), statistic, operator, Threshold(value, unit))


def _subtable(raw: Any, name: str, where: _Where) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise where.error(name, "expected a table")
    return raw


def _per_turn(raw: Any, where: _Where) -> tuple[tuple[str, float], ...]:
    limits: list[tuple[str, float]] = []
    sub = ("per_turn",)
    for metric, value in _subtable(raw, "per_turn", where).items():
        if metric not in PER_TURN_METRICS:
            raise where.error(metric, f"unknown per-turn metric; expected one of {', '.join(PER_TURN_METRICS)}", sub)
        try:
            if not isinstance(value, str):
                raise ValueError(DURATION.expected)
            amount, unit = parse_quantity(value, DURATION)
        except ValueError as exc:
            raise where.error(metric, f"{value!r}: expected {exc}", sub) from None
        limits.append((metric, amount / DURATION.factor(unit)))
    return tuple(limits)


def _regression(raw: Any, where: _Where) -> Tolerances:
    default, floor_ms, min_tail = Tolerances.default, Tolerances.floor_ms, Tolerances.min_tail_samples
    per_metric: list[tuple[str, float | None]] = []
    sub = ("regression",)
    for key, value in _subtable(raw, "regression", where).items():
        try:
            if key == "floor":
                floor_ms = parse_floor(value)
            elif key == "min_tail_samples":
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError("a whole number of samples, 0 or more")
                min_tail = value
            elif key == "default":
                parsed = parse_tolerance(value)
                if parsed is None:
                    raise ValueError("a percentage such as 10% (off is for one metric)")
                default = parsed
            elif key in LATENCY_METRICS:
                per_metric.append((key, parse_tolerance(value)))
            else:
                known = ", ".join(["default", "floor", "min_tail_samples", *LATENCY_METRICS])
                raise where.error(key, f"unknown key; expected one of {known}", sub)
        except ValueError as exc:
            raise where.error(key, f"{value!r}: expected {exc}", sub) from None
    return Tolerances(default, floor_ms, tuple(per_metric), min_tail)


def turn_limits(spec: SloSpec) -> dict[str, float]:
    """Per-turn limits in ms for goodput: `{"ttft": 100.0, ...}` (the engine's `turn_limits_ms`).

    With an `[slo.per_turn]` table, exactly its limits. Otherwise, for each of ttft, tpot and e2e,
    the strictest (lowest) upper bound among its `<` / `<=` rules on a percentile or the max; a
    mean says nothing about one turn and is not used. Empty when no rule applies (no goodput).
    """
    if spec.per_turn_ms:
        return dict(spec.per_turn_ms)
    limits: dict[str, float] = {}
    for rule in spec.rules:
        if rule.name in PER_TURN_METRICS and rule.operator in ("<", "<=") and rule.statistic != "mean":
            ms = rule.threshold.value / DURATION.factor(rule.threshold.unit)
            limits[rule.name] = min(limits.get(rule.name, math.inf), ms)
    return limits
