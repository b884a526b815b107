"""Which seconds of a run can be trusted, and whether the load generator was starved (pure).

A client whose own CPU is low can still be late: when other processes hold the cores it waits
for one, and every frame it times meanwhile is measured late. So each second is judged by its
own figures (`SecondSample`). It is **untrusted** when the load generator was late in it:

- the 10 ms `client_lag` sleeper of some load process woke more than `UNTRUSTED_LAG_MAX_MS` late
  (a stall: a GC pause, a long callback, a core taken away), or
- the most starved load process waited for a core, on average, more than `UNTRUSTED_RUNQ_DELAY_MS`
  each time it was put on one (`/proc/PID/schedstat`: run-queue wait over timeslices run), so
  whatever woke it was handled that late.

The run is **starved** when more than `STARVED_TURN_SHARE` of the turns measured (completed) in
the judged seconds fell in untrusted ones, or when one stall reached `STALL_MS`.

What the thresholds rest on (this project's 2-core VM, 50 sessions at 2 turns/s each, TTFT 30 ms):

- Alone (other processes using 60-100% of the machine): 0.07-0.33 ms of wait per run, 20-120 ms
  of wait per second, lag maxima of 2-30 ms, TTFT p99 34-39 ms.
- With two CPU burners: 0.7-8 ms of wait per run, 240-530 ms per second, lag maxima of 20-300 ms,
  TTFT p99 63-345 ms.
- A 10k-session run: stalls of its own up to 69 ms (quiet); on a busy machine a 526 ms stall and
  TTFT p99 150 ms against 33 ms quiet.

The run-queue wait per second is reported, not judged: a busy load process waits often but
briefly, and its timing stays right.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from rtbench.bundle.ratios import ratio
from rtbench.bundle.record import SecondSample

__all__ = [
    "UNTRUSTED_LAG_MAX_MS",
    "UNTRUSTED_RUNQ_DELAY_MS",
    "STARVED_TURN_SHARE",
    "STALL_MS",
    "Trust",
    "is_untrusted",
    "judge_seconds",
    "share_text",
]

#: A second whose `client_lag` max is above this (ms) is untrusted. A quiet 10k-session run of
#: scenarios/capacity-10k.toml (benchmarks/starved.py) had stalls of its own up to 69 ms in 7 of 59
#: steady seconds (full GC pauses, per-second housekeeping) with TTFT p99 50 ms; starvation shows
#: in the run-queue wait instead (the same run beside two burners: 56 of 59 seconds over 1 ms).
UNTRUSTED_LAG_MAX_MS = 100.0
#: A second in which some load process waited for a core more than this on average each time it
#: ran (ms) is untrusted: three times the most measured alone, under the least with two burners.
UNTRUSTED_RUNQ_DELAY_MS = 1.0
#: The run is starved when more than this share of its turns was measured in untrusted seconds.
STARVED_TURN_SHARE = 0.05
#: The run is starved when one stall (a `client_lag` max) reached this, ms.
STALL_MS = 200.0


def is_untrusted(sample: SecondSample) -> bool:
    """Was the load generator late in this second (lag max or wait per run over its threshold)?"""
    lag, delay = sample.client_lag_max_ms, sample.client_runq_delay_ms
    return (lag is not None and lag > UNTRUSTED_LAG_MAX_MS) or (delay is not None and delay > UNTRUSTED_RUNQ_DELAY_MS)


def _known(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _mean(values: Sequence[float], places: int = 3) -> float | None:
    return round(statistics.fmean(values), places) if values else None


@dataclass(frozen=True)
class Trust:
    """The judgement of a run's seconds (see the module's doc). Max and mean are over seconds."""

    #: The untrusted seconds, as seconds since the run's first whole second.
    untrusted_seconds: tuple[int, ...]
    #: How many seconds were judged.
    seconds: int
    #: Turns completed in the seconds judged, and in the untrusted ones.
    turns: int
    untrusted_turns: int
    #: The longest stall: the largest `client_lag` max of a second, ms.
    lag_max_ms: float | None
    #: Run-queue wait of the most starved load process, ms per second.
    runq_ms_max: float | None
    runq_ms_mean: float | None
    #: Its mean wait for a core each time it ran, ms.
    runq_delay_ms_max: float | None
    runq_delay_ms_mean: float | None
    #: The machine's CPU percent of all cores.
    machine_cpu_max: float | None
    machine_cpu_mean: float | None

    @property
    def untrusted_turn_share(self) -> float | None:
        """Turns measured in untrusted seconds / turns measured (0..1); None without turns."""
        return ratio(self.untrusted_turns, self.turns)

    @property
    def stalled(self) -> bool:
        return self.lag_max_ms is not None and self.lag_max_ms >= STALL_MS

    @property
    def starved(self) -> bool:
        share = self.untrusted_turn_share
        return self.stalled or (share is not None and share > STARVED_TURN_SHARE)


def judge_seconds(seconds: Sequence[SecondSample]) -> Trust:
    """Judge each of `seconds`; a sample without `second` is named by its index."""
    untrusted = [(i, s) for i, s in enumerate(seconds) if is_untrusted(s)]
    lags = _known([s.client_lag_max_ms for s in seconds])
    runq = _known([s.client_runq_ms for s in seconds])
    delays = _known([s.client_runq_delay_ms for s in seconds])
    machine = _known([s.machine_cpu for s in seconds])
    return Trust(
        untrusted_seconds=tuple(s.second if s.second is not None else i for i, s in untrusted),
        seconds=len(seconds),
        turns=sum(s.turns_completed for s in seconds),
        untrusted_turns=sum(s.turns_completed for _, s in untrusted),
        lag_max_ms=max(lags, default=None),
        runq_ms_max=max(runq, default=None),
        runq_ms_mean=_mean(runq),
        runq_delay_ms_max=max(delays, default=None),
        runq_delay_ms_mean=_mean(delays),
        machine_cpu_max=max(machine, default=None),
        machine_cpu_mean=_mean(machine, 1),
    )


def share_text(trust: Trust) -> str:
    """ "12.3% of turns measured in untrusted seconds (7 of 60 seconds)", or that no turn was."""
    if trust.untrusted_turn_share is None:
        return f"no turn measured; {len(trust.untrusted_seconds)} of {trust.seconds} seconds untrusted"
    percent = trust.untrusted_turn_share * 100
    text = "<0.1" if 0 < percent < 0.1 else f"{percent:.1f}"
    return f"{text}% of turns measured in untrusted seconds ({len(trust.untrusted_seconds)} of {trust.seconds} seconds)"
