"""Master-side merge of the workers' interval seconds into closed seconds and per-phase totals.

Intervals from all processes are added exactly (HdrHistogram decode-and-add) into an open
accumulator per second. A second is closed once it is `grace_s` seconds old: it is handed to
`on_closed` (the bundle writers) and folded into the totals of its phase, then dropped, so memory
holds only the open seconds plus one histogram per metric and phase.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.interval import Bucket, Interval
from rtbench.metrics.phases import Phase

__all__ = ["Aggregator", "ClosedSecond"]


@dataclass(frozen=True)
class ClosedSecond:
    """One wall-clock second of the whole run, merged over all processes."""

    second: int
    phase: Phase
    #: Metric -> merged histogram (clamped counts included); only metrics with data.
    histograms: dict[str, LatencyHistogram] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    #: Metric -> values clamped into range (only non-zero entries).
    clamped: dict[str, int] = field(default_factory=dict)


class Aggregator:
    """Merges Intervals into seconds, closes them in order and keeps per-phase totals."""

    def __init__(
        self,
        phase_of: Callable[[int], Phase],
        on_closed: Callable[[ClosedSecond], None] | None = None,
        grace_s: int = 3,
        on_late: Callable[[ClosedSecond], None] | None = None,
    ) -> None:
        self._phase_of = phase_of
        self._on_closed = on_closed
        self._on_late = on_late
        self._grace_s = grace_s
        self._open: dict[int, Bucket] = {}
        self._closed_below: int | None = None
        self._totals: dict[Phase, Bucket] = {phase: Bucket() for phase in Phase}
        #: Intervals that arrived for a second already closed (folded into the totals anyway).
        self.late_intervals = 0
        #: Seconds closed so far (including empty ones between seconds with data).
        self.closed_seconds = 0

    def add(self, interval: Interval) -> None:
        """Merge one process's interval into its second (or, if closed, straight into totals)."""
        second = interval.second
        if self._closed_below is not None and second < self._closed_below:
            self.late_intervals += 1
            late = Bucket()
            late.add_interval(interval)
            closed = self._fold(second, late)
            if self._on_late is not None:
                self._on_late(closed)
            return
        sums = self._open.get(second)
        if sums is None:
            sums = self._open[second] = Bucket()
        sums.add_interval(interval)

    def close_through(self, now: float) -> None:
        """Close every second <= int(now) - grace_s, oldest first, gaps included."""
        self._close_up_to(int(now) - self._grace_s)

    def close_all(self) -> None:
        """Close every open second (end of run)."""
        if self._open:
            self._close_up_to(max(self._open))

    def _close_up_to(self, last: int) -> None:
        first = self._closed_below
        if first is None:
            if not self._open:
                return
            first = min(self._open)
        for second in range(first, last + 1):
            sums = self._open.pop(second, None)
            closed = self._fold(second, sums if sums is not None else Bucket())
            self.closed_seconds += 1
            if self._on_closed is not None:
                self._on_closed(closed)
        self._closed_below = max(first, last + 1)

    def _fold(self, second: int, sums: Bucket) -> ClosedSecond:
        phase = self._phase_of(second)
        for h in sums.histograms.values():
            h.start_ms, h.end_ms = second * 1000.0, (second + 1) * 1000.0
        self._totals[phase].add_bucket(sums)
        return ClosedSecond(
            second=second,
            phase=phase,
            histograms=sums.histograms,
            counters=sums.counters,
            clamped=sums.clamped(),
        )

    # -- whole-run results --------------------------------------------------------------------

    def _phases(self, phases: Iterable[Phase]) -> list[Bucket]:
        return [self._totals[Phase(phase)] for phase in dict.fromkeys(phases)]

    def totals(self, phases: Iterable[Phase]) -> dict[str, LatencyHistogram]:
        """Metric -> histogram of every closed value in `phases` (fresh copies)."""
        out = Bucket()
        for sums in self._phases(phases):
            for metric, h in sums.histograms.items():
                out.histogram(metric).add(h)
        return out.histograms

    def counters(self, phases: Iterable[Phase]) -> dict[str, int]:
        """Counter -> total over `phases`."""
        out = Bucket()
        for sums in self._phases(phases):
            out.add_counters(sums.counters)
        return out.counters

    def clamped(self, phases: Iterable[Phase]) -> dict[str, int]:
        """Metric -> clamped values over `phases` (zero entries included for metrics seen)."""
        out: dict[str, int] = {}
        for sums in self._phases(phases):
            for metric, h in sums.histograms.items():
                out[metric] = out.get(metric, 0) + h.clamped
        return out

    def running_counters(self) -> dict[str, int]:
        """Counter -> total over everything received so far: every phase's closed seconds and the
        open ones (cheap: a few small dicts, for checks made every tick)."""
        out = Bucket()
        for sums in (*self._totals.values(), *self._open.values()):
            out.add_counters(sums.counters)
        return out.counters

    @property
    def open_seconds(self) -> list[int]:
        """Seconds that hold data but are not closed yet."""
        return sorted(self._open)
