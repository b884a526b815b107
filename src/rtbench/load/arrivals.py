"""Open-loop arrivals: when each user's next turn is planned, whether or not the last one ended.

The run's rate R is shared by its U users: each user plans turns at R / U per second, either at a
constant interval (with a random phase, so users do not line up) or as a Poisson process
(exponential gaps; the users' streams add up to one Poisson stream of rate R). A turn that cannot
start on time (its session is still busy with the previous turn, or the run's cap on turns in
flight is reached) starts late, and its latencies are still measured from the planned time, as
wrk2 does, so a stalled server cannot hide behind the turns it delayed (coordinated omission).
"""

from __future__ import annotations

import random

__all__ = ["ArrivalSchedule", "LATE_TOLERANCE_S"]

#: A turn that starts this much after its planned time counts as late.
LATE_TOLERANCE_S = 0.001


class ArrivalSchedule:
    """One user's planned send times, at `rate_per_user` turns per second."""

    __slots__ = ("_poisson", "_interval", "_rate", "_rng", "_next")

    def __init__(self, kind: str, rate_per_user: float, rng: random.Random, start: float) -> None:
        if kind not in ("constant", "poisson") or rate_per_user <= 0:
            raise ValueError(f"an open-loop arrival kind and a positive rate, not {kind!r} at {rate_per_user}")
        self._poisson = kind == "poisson"
        self._rate = rate_per_user
        self._interval = 1.0 / rate_per_user
        self._rng = rng
        # the first turn: a random phase within one interval (constant) or a first gap (Poisson)
        self._next = start + (self._gap() if self._poisson else rng.uniform(0.0, self._interval))

    def _gap(self) -> float:
        return self._rng.expovariate(self._rate) if self._poisson else self._interval

    @property
    def planned(self) -> float:
        """When the next turn is planned (monotonic seconds)."""
        return self._next

    def wait(self, now: float) -> float:
        """Seconds until the next planned turn (0 if it is due or overdue)."""
        return max(0.0, self._next - now)

    def take(self) -> float:
        """The next turn's planned time; the one after it becomes next."""
        planned = self._next
        self._next = planned + self._gap()
        return planned
