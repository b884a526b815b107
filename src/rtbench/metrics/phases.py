"""Run phases (ramp, steady, stop) and the mapping of wall-clock seconds onto them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Phase", "PhaseBoundaries"]


class Phase(str, Enum):  # noqa: UP042 (StrEnum would change str(Phase.X))
    """Part of a run. Only STEADY is reported unless the ramp is asked for."""

    RAMP = "ramp"
    STEADY = "steady"
    STOP = "stop"


@dataclass
class PhaseBoundaries:
    """Where the phases of a run begin and end, in wall-clock seconds (None while unknown).

    Interval second `s` covers [s, s + 1). A second that straddles a boundary goes to the ramp or
    stop side, so the steady state never holds samples from a transition. Until the ramp end is
    known every second is ramp; until the stop is known no second is stop. Call it like a function
    (`boundaries(second)`) wherever a `phase_of` callable is wanted.
    """

    ramp_end: float | None = None
    stop_start: float | None = None

    def phase_of(self, second: int) -> Phase:
        """The phase of interval second `second`."""
        if self.stop_start is not None and second + 1 > self.stop_start:
            return Phase.STOP
        if self.ramp_end is None or second < self.ramp_end:
            return Phase.RAMP
        return Phase.STEADY

    __call__ = phase_of

    def spans(self, started_at: float, ended_at: float | None) -> dict[str, dict[str, float | None]]:
        """{phase: {"start", "end"}} in wall-clock seconds for summary.json; None if not reached."""
        stop_start = self.stop_start
        ramp_end = self.ramp_end
        if ramp_end is not None and stop_start is not None:
            ramp_end = min(ramp_end, stop_start)
        steady_reached = ramp_end is not None and (stop_start is None or ramp_end < stop_start)
        return {
            Phase.RAMP.value: {
                "start": started_at,
                "end": _first_known(ramp_end, stop_start, ended_at),
            },
            Phase.STEADY.value: {
                "start": ramp_end if steady_reached else None,
                "end": _first_known(stop_start, ended_at) if steady_reached else None,
            },
            Phase.STOP.value: {
                "start": stop_start,
                "end": ended_at if stop_start is not None else None,
            },
        }


def _first_known(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)
