"""summary.json `throughput`: requests and tokens per second over the reported phases, the
figures users of LLM benchmarks read first (SCHEMA.md, "Throughput").

Counts are taken when a turn completes, into the wall-clock second it completes in, and a phase
owns whole seconds (`rtbench.metrics.phases.PhaseBoundaries`); so the rates divide by the length of
the seconds the reported phases own (clipped to the run), not by the phases' own spans: a steady
phase from 102.4 to 112.7 counts the turns of seconds 103 to 111, 9 s.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence

from rtbench.bundle.record import RunRecord
from rtbench.bundle.sections import token_count_method
from rtbench.bundle.summary_types import Phases, RunInputTokenMethod, Throughput
from rtbench.metrics.names import INPUT_TOKEN_METHODS, input_method_counter
from rtbench.metrics.phases import Phase, PhaseBoundaries

__all__ = ["reported_seconds", "input_token_method", "build_throughput_section", "RATE_PLACES"]

#: Decimal places of every rate.
RATE_PLACES = 3


def reported_seconds(
    phases: Phases, started_at: float | None, ended_at: float | None, reported: Sequence[Phase]
) -> float:
    """Seconds of the run whose counts belong to `reported` phases: each interval second of the
    run, clipped to [started_at, ended_at], that `PhaseBoundaries` assigns to one of them."""
    if started_at is None or ended_at is None or ended_at <= started_at:
        return 0.0
    steady, stop = phases.get("steady") or {}, phases.get("stop") or {}
    boundaries = PhaseBoundaries(steady.get("start"), stop.get("start"))
    wanted = set(reported)
    total = 0.0
    for second in range(int(started_at), int(ended_at) + 1):
        if boundaries.phase_of(second) in wanted:
            total += max(0.0, min(second + 1, ended_at) - max(second, started_at))
    return round(total, 6)


def input_token_method(counters: Mapping[str, int]) -> RunInputTokenMethod:
    """How input tokens were counted: "usage", "tokenizer", "estimate", "mixed" (more than one)
    or "none" (no completed turn)."""
    used = [m for m in INPUT_TOKEN_METHODS if counters.get(input_method_counter(m), 0)]
    if not used:
        return "none"
    return used[0] if len(used) == 1 else "mixed"


def _rate(count: float, seconds: float) -> float | None:
    return round(count / seconds, RATE_PLACES) if seconds > 0 else None


def _per_user(rate: float | None, users: float | None) -> float | None:
    return round(rate / users, RATE_PLACES) if rate is not None and users else None


def build_throughput_section(record: RunRecord, counters: Mapping[str, int], reported: Sequence[Phase]) -> Throughput:
    """The section from the reported phases' `counters`: completed turns (`requests_per_s`),
    their output and input tokens, goodput (with per-turn limits), and users, per second."""
    seconds = reported_seconds(record.phases, record.started_at, record.ended_at, reported)
    users = [s.users for s in record.seconds if s.phase in reported and s.users is not None]
    mean_users = round(statistics.fmean(users), 3) if users else None
    output = _rate(counters.get("tokens", 0), seconds)
    inputs = _rate(counters.get("input_tokens", 0), seconds)
    return {
        "seconds": seconds,
        "requests_per_s": _rate(counters.get("turns_completed", 0), seconds),
        "output_tokens_per_s": output,
        "input_tokens_per_s": inputs,
        "mean_users": mean_users,
        "output_tokens_per_s_per_user": _per_user(output, mean_users),
        "input_tokens_per_s_per_user": _per_user(inputs, mean_users),
        "goodput_per_s": _rate(counters.get("turns_good", 0), seconds) if record.turn_limits_ms else None,
        "input_token_method": input_token_method(counters),
        "output_token_method": token_count_method(counters),
    }
