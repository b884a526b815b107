"""The absolute-time token scheduler shared by all three protocols.

Every frame of a turn is due at `origin + offset`, where `origin` is the monotonic time the
prompt was received (or the slot was granted, with `--slots`). Deadlines are absolute, so a late
frame does not push the later ones back. The clock is `time.monotonic()`, the clock asyncio's
default loop uses for `loop.time()`; uvloop's `loop.time()` is truncated to whole milliseconds,
so it is not used for deadlines.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from reference_server.faults import FaultInjector
from reference_server.latency import FrameSlot, TurnPlan
from reference_server.metrics import ServerMetrics, Tally

__all__ = ["BURST_YIELD_EVERY", "Cork", "SlotPool", "TurnResult", "run_turn", "sleep_until"]

#: Frames sent back to back (already due) before yielding to other sessions.
BURST_YIELD_EVERY = 16

SendFrame = Callable[[FrameSlot], Awaitable[None]]


@dataclass(frozen=True)
class TurnResult:
    """What a turn sent. `injected` is True when the error-rate fault ended it early."""

    tokens: int
    frames: int
    injected: bool = False


class Cork:
    """Batches frames that are already due into fewer TCP segments with TCP_CORK.

    On loopback a send() per frame costs about 5 us, most of it pushing the segment through the
    receiver's stack; corked writes only append. The cork is released before every wait, so a
    frame that was on time is never held back.
    """

    __slots__ = ("_sock", "corked")

    def __init__(self, transport: asyncio.BaseTransport | None) -> None:
        sock = transport.get_extra_info("socket") if transport is not None else None
        self._sock: socket.socket | None = sock if sock is not None and hasattr(socket, "TCP_CORK") else None
        self.corked = False

    def hold(self) -> None:
        if not self.corked and self._sock is not None:
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                self.corked = True
            except (OSError, ValueError):
                self._sock = None

    def release(self) -> None:
        if self.corked and self._sock is not None:  # corked implies a socket: hold() set both
            self.corked = False
            try:
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            except (OSError, ValueError):
                self._sock = None


async def sleep_until(deadline: float, clock: Callable[[], float] = time.monotonic) -> float:
    """Sleep until `clock() >= deadline` (re-sleeping after an early wake-up); returns clock()."""
    now = clock()
    while now < deadline:
        await asyncio.sleep(deadline - now)
        now = clock()
    return now


async def run_turn(
    plan: TurnPlan,
    origin: float,
    send: SendFrame,
    tally: Tally,
    metrics: ServerMetrics,
    faults: FaultInjector | None = None,
    fail_at: int | None = None,
    cork: Cork | None = None,
) -> TurnResult:
    """Send the frames of `plan` on time through `send`.

    The scheduling error (send time minus planned time) of the first frame, and of every later
    frame the model spaced apart from the one before, goes to `rtref_send_lateness_seconds`.
    Frames that are already due go out back to back, yielding every few frames. `fail_at` is
    the index of a frame the error-rate fault replaces: the turn stops there. `cork` (optional)
    batches back-to-back frames into fewer TCP segments.
    """
    if cork is None:
        cork = Cork(None)
    try:
        return await _run_turn(plan, origin, send, tally, metrics, faults, fail_at, cork)
    finally:
        cork.release()


async def _run_turn(
    plan: TurnPlan,
    origin: float,
    send: SendFrame,
    tally: Tally,
    metrics: ServerMetrics,
    faults: FaultInjector | None,
    fail_at: int | None,
    cork: Cork,
) -> TurnResult:
    clock = time.monotonic
    late_first, late_next = metrics.late_first, metrics.late_next
    stalls = faults is not None and faults.stalls
    tokens = frames = streak = 0
    previous = -1.0
    for index, slot in enumerate(plan.frames):
        deadline = origin + slot.offset_s
        now = clock()
        if now < deadline:
            streak = 0
            cork.release()
            now = await sleep_until(deadline, clock)
        elif index:
            streak += 1
            if streak >= BURST_YIELD_EVERY:
                streak = 0
                cork.release()
                await asyncio.sleep(0)
                now = clock()
            cork.hold()
        if stalls:
            assert faults is not None
            resume = faults.stall_resume_at(now)
            if resume > now:
                cork.release()
                metrics.faults.labels("stall").inc()
                now = await sleep_until(resume, clock)
        if index == fail_at:
            return TurnResult(tokens, frames, injected=True)
        if index == 0:
            late_first.observe(now - deadline)
        elif slot.offset_s > previous:
            late_next.observe(now - deadline)
        previous = slot.offset_s
        await send(slot)
        tokens += slot.tokens
        frames += 1
        tally.frames += 1
        tally.tokens += slot.tokens
    return TurnResult(tokens, frames)


class SlotPool:
    """A fixed number of generation slots (0 = unlimited); a turn holds one while it generates."""

    def __init__(self, slots: int, metrics: ServerMetrics) -> None:
        self._sem = asyncio.Semaphore(slots) if slots > 0 else None
        self._metrics = metrics

    @asynccontextmanager
    async def hold(self, received: float) -> AsyncIterator[float]:
        """Wait for a slot; yields the turn's clock origin (`received`, or when the slot came)."""
        running, waiting = self._metrics.requests_running, self._metrics.requests_waiting
        if self._sem is None:
            running.inc()
            try:
                yield received
            finally:
                running.dec()
            return
        queued = self._sem.locked()
        waiting.inc()
        try:
            await self._sem.acquire()
        finally:
            waiting.dec()
        running.inc()
        try:
            granted = time.monotonic()
            self._metrics.slot_wait.observe(granted - received if queued else 0.0)
            yield granted if queued else received
        finally:
            running.dec()
            self._sem.release()
