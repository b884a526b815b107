"""The capacity search: the largest load that still meets every SLO, as a pure state machine.

Step up geometrically from `start` until a step breaches an SLO (or `maximum` passes), then bisect
between the largest passing load and the smallest failing one until they are within `resolution`
(a fraction of the passing load, at least one unit apart). A step whose load generator saturated
ends the search: its figures describe the client, not the target.

The caller measures each load (a full run, judged on its steady state) and reports back:

    search = CapacitySearch(start=50, maximum=5000)
    while (load := search.next_load()) is not None:
        search.record(Step(load, passed=..., saturated=...))
    search.answer, search.reason
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CapacitySearch", "Step"]


@dataclass(frozen=True)
class Step:
    """One measured load and its verdict; `figures` holds what the knee plot shows."""

    load: int
    passed: bool
    saturated: bool = False
    figures: dict[str, Any] = field(default_factory=dict)


class CapacitySearch:
    """Step up by `factor`, then bisect to `resolution`; see the module doc."""

    def __init__(self, start: int, maximum: int, factor: float = 2.0, resolution: float = 0.1) -> None:
        if not 1 <= start <= maximum:
            raise ValueError("need 1 <= start <= maximum")
        if factor <= 1 or resolution <= 0:
            raise ValueError("need factor > 1 and resolution > 0")
        self.start, self.maximum, self.factor, self.resolution = start, maximum, factor, resolution
        self.steps: list[Step] = []
        self.done = False
        #: The largest load that met every SLO (None if even `start` failed).
        self.answer: int | None = None
        #: Why the search ended, in one line.
        self.reason = ""

    @property
    def best_pass(self) -> int | None:
        loads = [s.load for s in self.steps if s.passed and not s.saturated]
        return max(loads) if loads else None

    @property
    def lowest_fail(self) -> int | None:
        loads = [s.load for s in self.steps if not s.passed and not s.saturated]
        return min(loads) if loads else None

    def next_load(self) -> int | None:
        """The next load to measure, or None when the search is over."""
        if self.done:
            return None
        low, high = self.best_pass, self.lowest_fail
        if not self.steps:
            return self.start
        if high is None:  # still stepping up
            if low is not None and low >= self.maximum:
                self._finish(low, f"every SLO met up to the maximum searched, {self.maximum:,}")
                return None
            return min(self.maximum, max(low + 1, math.ceil(low * self.factor)))  # type: ignore[operator]
        if low is None:
            self._finish(None, f"SLOs breached already at the smallest load searched, {high:,}")
            return None
        if high - low <= max(1.0, self.resolution * low):
            self._finish(low, f"SLOs met at {low:,} and breached at {high:,}")
            return None
        return (low + high) // 2

    def record(self, step: Step) -> None:
        """The verdict of the load `next_load` returned."""
        self.steps.append(step)
        if step.saturated:
            self._finish(
                self.best_pass,
                f"the load generator saturated at {step.load:,}: its latencies are inflated; add workers",
            )

    def _finish(self, answer: int | None, reason: str) -> None:
        """End the search (`next_load` then returns None) with `answer` and why."""
        self.done, self.answer, self.reason = True, answer, reason
