"""What stops a run early besides Ctrl-C: a target found dead without its PID, or an `--abort-on`
SLO rule already lost.

The runner feeds `TargetLiveness` once a tick with the sessions connected now (merged over every
load process) and the run's connection counters so far. The target is down when, for
`down_after_s` seconds, no session was connected, no connection attempt succeeded and at least
one failed (refused, timed out, handshake rejected, ...). A target that comes back within that
time, or a quiet one that nobody tries to reach, is not down. Pure: the clock is the caller's.

`RunStops` asks it, then the abort check (`rtbench.slo.abort.AbortOn`), once a tick.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rtbench.metrics.aggregate import Aggregator

__all__ = ["AbortCheck", "RunStops", "TargetDown", "TargetLiveness"]

#: Asked every tick with the run's totals so far: (partial reason, detail) to stop the run, or None.
AbortCheck = Callable[[Aggregator], tuple[str, str] | None]


@dataclass(frozen=True)
class TargetDown:
    """The target was found down: since when, and how many connection attempts failed meanwhile."""

    since: float
    down_for_s: float
    failed_connects: int
    #: False when no session ever connected: the target refused every connection from the start.
    was_up: bool

    @property
    def reason(self) -> str:
        """The run's partial reason."""
        if self.was_up:
            return "target stopped answering"
        return "target refused every connection"

    @property
    def detail(self) -> str:
        """A line for the timeline and the console."""
        state = "no session connected" if self.was_up else "no session ever connected"
        return (
            f"{self.reason}: {state} for {self.down_for_s:.1f} s and"
            f" {self.failed_connects:,} connection attempts failed"
        )


class TargetLiveness:
    """Tells, tick by tick, when every session has been down and reconnects refused for
    `down_after_s` seconds (0: never). It tells once; `reset()` forgets a down spell (a planned
    outage)."""

    def __init__(self, down_after_s: float) -> None:
        self.down_after_s = down_after_s
        self.fired: TargetDown | None = None
        self._ever_up = False
        self._since: float | None = None
        self._ok_at_since = 0
        self._failed_at_since = 0

    def reset(self) -> None:
        """Forget the current down spell."""
        self._since = None

    def observe(self, now: float, sessions: int, counters: Mapping[str, int]) -> TargetDown | None:
        """One tick: `sessions` connected now, and the run's `counters` so far (`connect_ok`,
        `connect_failed`). The `TargetDown` on the tick the target is found down, else None."""
        if self.down_after_s <= 0 or self.fired is not None:
            return None
        connect_ok, connect_failed = counters.get("connect_ok", 0), counters.get("connect_failed", 0)
        self._ever_up = self._ever_up or sessions > 0 or connect_ok > 0
        if sessions > 0:
            self._since = None  # a session is up: the target answers
            return None
        if self._since is None or connect_ok > self._ok_at_since:  # (a session connected since)
            self._since, self._ok_at_since, self._failed_at_since = now, connect_ok, connect_failed
            return None
        failed = connect_failed - self._failed_at_since
        if now - self._since >= self.down_after_s and failed > 0:
            self.fired = TargetDown(self._since, now - self._since, failed, self._ever_up)
            return self.fired
        return None


class RunStops:
    """Once a tick while the run goes on: (partial reason, event kind, detail) when it must stop,
    the target being down (`target_down`; never during a planned outage) or an abort rule lost
    (`aborted`), else None."""

    def __init__(self, down_after_s: float, abort: AbortCheck | None = None) -> None:
        self.liveness = TargetLiveness(down_after_s)
        self.abort = abort

    def check(
        self, now: float, sessions: int, aggregator: Aggregator, planned_outage: bool = False
    ) -> tuple[str, str, str] | None:
        down = None if planned_outage else self.liveness.observe(now, sessions, aggregator.running_counters())
        if down is not None:
            return down.reason, "target_down", down.detail
        breach = self.abort(aggregator) if self.abort is not None else None
        return (breach[0], "aborted", breach[1]) if breach is not None else None
