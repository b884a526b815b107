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

__all__ = [
    "reported_seconds",
    "input_token_method",
    "build_throughput_section",
    "throughput_line",
    "method_notes",
    "THROUGHPUT_FIGURES",
    "ESTIMATED",
    "RATE_PLACES",
]

#: Decimal places of every rate.
RATE_PLACES = 3
#: What the report and the console say when input tokens were estimated.
ESTIMATED = "estimated: one word = one token"

#: Each figure of the section, as the report's metric table states it.
THROUGHPUT_FIGURES: dict[str, str] = {
    "seconds": "length of the whole interval seconds the reported phases own (steady, or every phase with "
    "include_ramp); every rate divides by it",
    "requests_per_s": "turns completed in those seconds, per second (a turn counts when its response ends)",
    "output_tokens_per_s": "output tokens of those turns (reasoning included), per second",
    "input_tokens_per_s": "input tokens of those turns (the usage block's prompt tokens, else the client's count "
    "of every message sent), per second",
    "mean_users": "users running, averaged over those seconds",
    "output_tokens_per_s_per_user": "output_tokens_per_s / mean_users",
    "input_tokens_per_s_per_user": "input_tokens_per_s / mean_users",
    "goodput_per_s": "turns within every per-turn SLO limit, per second (null without limits)",
    "input_token_method": "how input tokens were counted: usage, tokenizer, estimate (one word = one token), "
    "mixed or none",
    "output_token_method": "how output tokens were counted: usage, frames (one per content delta), mixed or none",
}


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


def _figure(value: object, unit: str) -> str:
    """`value` for a console line, to about three significant figures (131.714 -> "132", 26.343 ->
    "26.3", 0.125 -> "0.125"); summary.json keeps the precise figure."""
    if not isinstance(value, (int, float)):
        return "-"
    decimals = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 3
    text = f"{value:,.{decimals}f}"
    return (text.rstrip("0").rstrip(".") if decimals else text) + unit


def method_notes(throughput: Mapping[str, object]) -> list[str]:
    """What the reader must know of the token counts: estimates, and counts per content frame."""
    notes = []
    inputs, outputs = throughput.get("input_token_method"), throughput.get("output_token_method")
    if inputs in ("estimate", "mixed"):
        notes.append(f"input tokens {ESTIMATED}" + (" (for some turns)" if inputs == "mixed" else ""))
    if outputs in ("frames", "mixed"):
        notes.append("output tokens counted one per content frame (no usage block)")
    return notes


def throughput_line(throughput: Mapping[str, object]) -> str:
    """ "217 req/s, output 2,170 tok/s (542 a user), input 434 tok/s (108 a user), goodput
    5/s over 5 s": the section in one line, with `method_notes` after a semicolon."""
    line = (
        f"{_figure(throughput.get('requests_per_s'), ' req/s')}, "
        f"output {_figure(throughput.get('output_tokens_per_s'), ' tok/s')}"
        f" ({_figure(throughput.get('output_tokens_per_s_per_user'), '')} a user), "
        f"input {_figure(throughput.get('input_tokens_per_s'), ' tok/s')}"
        f" ({_figure(throughput.get('input_tokens_per_s_per_user'), '')} a user)"
    )
    if throughput.get("goodput_per_s") is not None:
        line += f", goodput {_figure(throughput.get('goodput_per_s'), '/s')}"
    line += f" over {_figure(throughput.get('seconds'), ' s')}, {_figure(throughput.get('mean_users'), '')} users"
    notes = method_notes(throughput)
    return line + ("; " + "; ".join(notes) if notes else "")
