"""Fault injection: dropped connections, global send stalls and injected error frames.

Also the choice of a reconnect storm's victims (reference_server/storm.py does the dropping).

All off by default. Decisions use a process-wide rng seeded from `--seed` and the worker index.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from reference_server.config import FaultConfig

__all__ = ["FaultInjector"]

T = TypeVar("T")


class FaultInjector:
    """Decides which connections drop, when sending stalls and which turns fail."""

    def __init__(self, config: FaultConfig, seed: int, worker: int = 0, wall_clock: Callable[[], float] = time.time):
        self.config = config
        self._rng = random.Random(f"faults/{seed}/{worker}")
        self._wall = wall_clock
        self._stall_s = config.stall_ms / 1000.0
        #: Whether send stalls are configured at all (checked before calling `stall_resume_at`).
        self.stalls = self._stall_s > 0 and config.stall_every_s > 0

    def drop_delay(self) -> float | None:
        """Seconds after which a new connection is to be dropped, or None to keep it."""
        cfg = self.config
        if cfg.drop_rate <= 0 or self._rng.random() >= cfg.drop_rate:
            return None
        low, high = cfg.drop_after_s
        return self._rng.uniform(low, high)

    def arm_drop(
        self, transport: asyncio.BaseTransport | None, on_drop: Callable[[], None]
    ) -> asyncio.TimerHandle | None:
        """Maybe schedule an abrupt close (no close frame, no FIN handshake) of `transport`."""
        delay = self.drop_delay()
        if delay is None or transport is None:
            return None

        def drop() -> None:
            if not transport.is_closing():
                on_drop()
                transport.abort()  # type: ignore[attr-defined]

        return asyncio.get_running_loop().call_later(delay, drop)

    def storm_victims(self, candidates: Sequence[T], fraction: float) -> list[T]:
        """`round(fraction * len(candidates))` of `candidates` (half to even), a uniform random sample."""
        count = min(len(candidates), max(0, round(fraction * len(candidates))))
        return self._rng.sample(list(candidates), count)

    def error_frame(self, frames: int) -> int | None:
        """Index of the frame a turn of `frames` frames fails at instead, or None (no failure)."""
        if self.config.error_rate <= 0 or self._rng.random() >= self.config.error_rate:
            return None
        return self._rng.randrange(max(1, frames))

    def stall_resume_at(self, now: float) -> float:
        """When sending may resume, on the monotonic clock `now` is from (`now` if not stalled).

        Stalls last `stall_ms` and start every `stall_every_s` on wall-clock boundaries, so all
        server processes stall together.
        """
        phase = math.fmod(self._wall(), self.config.stall_every_s)
        if phase >= self._stall_s:
            return now
        return now + (self._stall_s - phase)
