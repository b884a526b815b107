"""Garbage-collector tuning for many long-lived sessions.

A session holds about 60 objects the cyclic GC tracks. After a ramp to 5,000 sessions in one
process, the first collection of generation 1 scans some 300,000 of them: a pause of about 125 ms
at a random moment of the steady state. So, as the DESIGN notes advise:

- a high gen-0 threshold (`gc.set_threshold(50000, 20, 100)`) and `gc.freeze()` after start-up;
- once a ramp has settled (open sessions stable for a second), one full collection and
  `gc.freeze()`: the pause comes at the end of the ramp, and later collections skip those objects;
- frozen objects are never collected, and a closed aiohttp connection leaves reference cycles, so
  when the sessions fall below half of what they were at the freeze, `gc.unfreeze()` hands the
  objects back; once the count settles again, that collection reclaims the closed sessions and
  the survivors are frozen anew.

Freezing 5,000 sessions takes one full collection, about 130 ms, at the end of the ramp.
"""

from __future__ import annotations

import gc
from types import ModuleType

__all__ = ["GcTuner", "THRESHOLDS"]

THRESHOLDS = (50000, 20, 100)


class GcTuner:
    """Call `start()` once the server listens, then `tick(open_sessions)` every housekeeping tick."""

    def __init__(self, min_growth: int = 500, settle_ticks: int = 2, collector: ModuleType = gc) -> None:
        self._gc = collector
        self.min_growth = min_growth
        self.settle_ticks = settle_ticks
        #: Sessions open at the last freeze (0: nothing of the sessions is frozen).
        self.frozen_at = 0
        self._last = 0
        self._stable = 0

    def start(self) -> None:
        self._gc.set_threshold(*THRESHOLDS)
        self._gc.collect()
        self._gc.freeze()  # start-up objects never need scanning again

    def tick(self, sessions: int) -> str | None:
        """Freeze after a settled ramp, unfreeze after a fall; returns what it did, if anything."""
        self._stable = self._stable + 1 if abs(sessions - self._last) <= max(5, sessions // 100) else 0
        self._last = sessions
        if self.frozen_at and sessions < self.frozen_at // 2:
            self._gc.unfreeze()
            self.frozen_at = 0
            return "unfreeze"
        if self._stable >= self.settle_ticks and sessions - self.frozen_at >= self.min_growth:
            self._gc.collect()
            self._gc.freeze()
            self.frozen_at = sessions
            return "freeze"
        return None
