"""Quantities in SLO rules: a dimension per indicator, its units, and the parsing of "100ms".

Each dimension has a *base*, the unit the summary reports it in (ms for durations, a 0..1 fraction
for ratios, KB for memory, a percent for CPU, a plain number for counts, per second for goodput).
A unit's factor turns a base value into that unit: `value_in_unit = base * factor`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Dimension",
    "DURATION",
    "RATIO",
    "PERCENT",
    "MEMORY",
    "COUNT",
    "THROUGHPUT",
    "parse_quantity",
]

_NUMBER = r"(?:\d{1,3}(?:[,_]\d{3})+|\d+)(?:\.\d+)?|\.\d+"
_QUANTITY = re.compile(rf"^\s*(?P<number>{_NUMBER})\s*(?P<unit>[a-zA-Z%/]*)\s*$")


@dataclass(frozen=True)
class Dimension:
    """A kind of quantity: its units (unit -> factor from the base) and how to say what is expected."""

    name: str
    units: Mapping[str, float]
    expected: str
    example_rule: str
    max_value: float | None = None

    def factor(self, unit: str) -> float:
        """The factor from the base to `unit` (KeyError for a unit of another dimension)."""
        return self.units[unit]


DURATION = Dimension("duration", {"ms": 1.0, "s": 0.001}, "a duration such as 100ms", "p95 < 100ms")
RATIO = Dimension("ratio", {"%": 100.0}, "a percentage such as 99.9%", ">= 99.9%", max_value=100.0)
PERCENT = Dimension("percent", {"%": 1.0}, "a percentage such as 60%", "< 60%")
MEMORY = Dimension("memory", {"KB": 1.0, "MB": 1.0 / 1024.0}, "a size such as 10MB or 512KB", "< 10MB")
COUNT = Dimension("count", {"": 1.0}, "a count such as 10000", ">= 10000")
THROUGHPUT = Dimension("throughput", {"/s": 1.0}, "a rate such as 50/s", ">= 50/s")

_CANONICAL_UNITS = {"ms": "ms", "s": "s", "%": "%", "kb": "KB", "mb": "MB", "": "", "/s": "/s"}


def parse_quantity(text: str, dimension: Dimension) -> tuple[float, str]:
    """(value, unit) from text such as "100ms", "99.9%", "10 MB", "10,000" or "50/s".

    The unit must belong to `dimension` (units are case-insensitive: "10mb" is "10MB"). Raises
    ValueError whose message is what was expected, e.g. "a duration such as 100ms".
    """
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(dimension.expected)
    unit = _CANONICAL_UNITS.get(match.group("unit").lower())
    if unit is None or unit not in dimension.units:
        raise ValueError(dimension.expected)
    value = float(match.group("number").replace(",", "").replace("_", ""))
    if dimension.max_value is not None and value > dimension.max_value:
        raise ValueError(f"{dimension.expected} (at most {dimension.max_value:g}{unit})")
    return value, unit
