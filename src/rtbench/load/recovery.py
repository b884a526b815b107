"""The pure parts of client recovery: the reconnect backoff and the per-process uptime ledger.

Nothing here does I/O or sleeps; the clock and the random draws are passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from rtbench.config import RunConfig

__all__ = ["Backoff", "UptimeLedger"]

_US = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter between reconnect attempts (the `[recovery]` table).

    Attempt n (from 0) waits a uniform draw from [(1 - jitter) * cap, cap], where
    cap = min(max_s, initial_s * multiplier ** n): jitter 1 is "full jitter" (0..cap), which
    spreads a storm of simultaneous drops; jitter 0 waits exactly `cap`.
    """

    initial_s: float = 0.1
    max_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 1.0
    max_retries: int = 8

    @classmethod
    def from_config(cls, config: RunConfig) -> Backoff:
        return cls(
            initial_s=config.recovery.backoff_initial,
            max_s=config.recovery.backoff_max,
            multiplier=config.recovery.backoff_multiplier,
            jitter=config.recovery.jitter,
            max_retries=config.recovery.max_retries,
        )

    def cap(self, attempt: int) -> float:
        """The longest wait before attempt `attempt` (0 for the first reconnect)."""
        try:
            grown = self.initial_s * self.multiplier**attempt
        except OverflowError:
            return self.max_s
        return min(self.max_s, grown)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt `attempt`, drawn with `rng`."""
        cap = self.cap(attempt)
        return cap - self.jitter * cap * rng.random()


class UptimeLedger:
    """Integrates, for one process, how many sessions are held and how many of them are down.

    `change` is called at every transition and `flush` now and then (a ticker); each adds the time
    elapsed since the previous call, multiplied by the sessions held (down), to the counters
    `session_us` (`downtime_us`) through `count`, in whole microseconds (the fractions carry over).
    """

    __slots__ = ("_count", "_clock", "_since", "held", "down", "_held_us", "_down_us")

    def __init__(self, count: Callable[[str, int], None], clock: Callable[[], float] = perf_counter) -> None:
        self._count = count
        self._clock = clock
        self._since = clock()
        #: Sessions held now (connected at least once, not yet ended).
        self.held = 0
        #: Held sessions without a usable connection now.
        self.down = 0
        self._held_us = 0.0
        self._down_us = 0.0

    def change(self, held: int = 0, down: int = 0) -> None:
        """Account for the time so far, then add `held` and `down` to the current numbers."""
        self.flush()
        self.held += held
        self.down += down

    def flush(self) -> None:
        """Add the time since the last call to the counters."""
        now = self._clock()
        elapsed_us = (now - self._since) * _US
        self._since = now
        if self.held:
            self._held_us = self._add("session_us", self._held_us + self.held * elapsed_us)
        if self.down:
            self._down_us = self._add("downtime_us", self._down_us + self.down * elapsed_us)

    def _add(self, counter: str, total_us: float) -> float:
        whole = int(total_us)
        if whole:
            self._count(counter, whole)
        return total_us - whole
