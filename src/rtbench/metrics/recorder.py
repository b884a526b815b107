"""Per-process recording into per-wall-clock-second interval histograms and counters.

Worker processes have different monotonic origins, so intervals are keyed by the wall-clock
second `int(clock())`; durations themselves come from monotonic timestamps (see turn.py).
The recorder is used from many greenlets of one process; gevent does not switch inside a call, so
no lock is needed. Only the seconds not yet taken are held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rtbench.metrics.breakdowns import by_input_metric
from rtbench.metrics.interval import Bucket, Interval
from rtbench.metrics.names import ErrorCodeNames, input_method_counter, token_method_counter
from rtbench.metrics.turn import TurnResult

__all__ = ["Interval", "Recorder"]


class Recorder:
    """Records latencies and counters of one process into the current wall-clock second."""

    __slots__ = ("_clock", "_seconds", "_current_second", "_current", "_error_codes", "totals")

    def __init__(self, clock: Callable[[], float] = time.time, error_codes: ErrorCodeNames | None = None) -> None:
        self._clock = clock
        self._error_codes = error_codes or ErrorCodeNames()
        self._seconds: dict[int, Bucket] = {}
        self._current_second = -1
        self._current = Bucket()
        #: Every counter of this process since it started (taken seconds included).
        self.totals: dict[str, int] = {}

    def _now_second(self) -> Bucket:
        second = int(self._clock())
        if second != self._current_second:
            bucket = self._seconds.get(second)
            if bucket is None:
                bucket = self._seconds[second] = Bucket()
            self._current_second, self._current = second, bucket
        return self._current

    def record(self, metric: str, value_us: float, count: int = 1) -> None:
        """Record a latency of `value_us` microseconds (`count` times) for `metric`."""
        self._now_second().histogram(metric).record(value_us, count)

    def count(self, name: str, n: int = 1) -> None:
        """Add `n` to counter `name`."""
        self._now_second().count(name, n)
        self.totals[name] = self.totals.get(name, 0) + n

    def count_error(self, code: str) -> None:
        """Count an error event of `code`, under a bounded, sanitized name (`ErrorCodeNames`)."""
        self.count(self._error_codes.counter(code))

    def record_turn(self, result: TurnResult) -> None:
        """Record a completed turn: ttft (also by input size), ttft_answer, itl (per token), tpot,
        e2e and the turn counters (output and input tokens and how each was counted)."""
        bucket = self._now_second()
        if result.ttft_us is not None:
            bucket.histogram("ttft").record(result.ttft_us)
            if result.input_tokens > 0:
                bucket.histogram(by_input_metric("ttft", result.input_tokens)).record(result.ttft_us)
        if result.ttft_answer_us is not None:
            bucket.histogram("ttft_answer").record(result.ttft_answer_us)
        if result.itl:
            record_itl = bucket.histogram("itl").record
            for gap_us, tokens in result.itl:
                record_itl(gap_us, tokens)
        if result.tpot_us is not None:
            bucket.histogram("tpot").record(result.tpot_us)
        bucket.histogram("e2e").record(result.e2e_us)
        bucket.count("turns_completed", 1)
        bucket.count("tokens", result.output_tokens)
        method = token_method_counter(result.token_count_method)
        bucket.count(method, 1)
        totals = self.totals
        totals["turns_completed"] = totals.get("turns_completed", 0) + 1
        totals["tokens"] = totals.get("tokens", 0) + result.output_tokens
        totals[method] = totals.get(method, 0) + 1
        if result.input_tokens or result.input_token_method == "usage":  # else: no count known
            self.count("input_tokens", result.input_tokens)
            self.count(input_method_counter(result.input_token_method))
        if result.reasoning_tokens:
            self.count("reasoning_tokens", result.reasoning_tokens)

    def take_closed(self, now: float | None = None) -> list[Interval]:
        """Remove and return, oldest first, every second before `int(now)` (all when None)."""
        limit = None if now is None else int(now)
        taken = sorted(s for s in self._seconds if limit is None or s < limit)
        intervals = [self._seconds.pop(s).to_interval(s) for s in taken]
        if self._current_second not in self._seconds:
            self._current_second, self._current = -1, Bucket()
        return intervals

    @property
    def pending_seconds(self) -> list[int]:
        """Seconds recorded into but not yet taken."""
        return sorted(self._seconds)
