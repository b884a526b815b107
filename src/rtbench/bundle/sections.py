"""The sections of summary.json that are computed from the metrics layer (see SCHEMA.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypedDict, cast

from rtbench.bundle.ratios import (
    connect_success_ratio,
    continuity_ratio,
    delivery_ratio,
    unaccounted_turns,
    uptime_ratio,
)
from rtbench.bundle.summary_types import (
    Conversation,
    Delivery,
    MetricFigures,
    ProcessDelivery,
    Recovery,
    RunTokenCountMethod,
)
from rtbench.metrics.breakdowns import by_input_order, by_turn_order, is_breakdown_metric, split_by_input, split_by_turn
from rtbench.metrics.failures import failed_reasons
from rtbench.metrics.histogram import LatencyHistogram, summarize_ms
from rtbench.metrics.names import (
    CONVERSATION_COUNTERS,
    FAILURE_KINDS,
    LATENCY_METRICS,
    TOKEN_COUNT_METHODS,
    connect_failed_kind,
    error_frame_counter,
    failure_counter,
    token_method_counter,
)

__all__ = [
    "build_metrics_section",
    "build_by_turn_section",
    "build_by_input_section",
    "build_conversation_section",
    "build_clamped_section",
    "build_delivery_section",
    "build_process_delivery",
    "build_recovery_section",
    "build_connect_section",
    "token_count_method",
    "RecoverySection",
    "ConnectSection",
]


def _metric_order(names: Iterable[str]) -> list[str]:
    """Canonical metrics first, in report order, then any others sorted; by-turn and by-input
    metrics ("ttft@3", "ttft@in:512", `rtbench.metrics.breakdowns.is_breakdown_metric`) left out: they
    have sections of their own."""
    names = {name for name in names if not is_breakdown_metric(name)}
    return [m for m in LATENCY_METRICS if m in names] + sorted(names - set(LATENCY_METRICS))


def build_metrics_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, MetricFigures]:
    """{metric: {count, min, mean, p50, p90, p95, p99, p99_9, max}} in ms, metrics in order
    (by-turn metrics left out: `build_by_turn_section`)."""
    return {name: cast(MetricFigures, summarize_ms(totals[name])) for name in _metric_order(totals)}


def build_by_turn_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, dict[str, MetricFigures]]:
    """{turn key: {metric: figures as in `build_metrics_section`}} from the by-turn metrics among
    `totals` ("ttft@3" -> ["3"]["ttft"]): keys in turn order ("1", "2", ..., "10+"), metrics in
    report order; empty when no conversation turn was recorded."""
    by_key: dict[str, dict[str, LatencyHistogram]] = {}
    for name, histogram in totals.items():
        split = split_by_turn(name)
        if split is not None:
            by_key.setdefault(split[1], {})[split[0]] = histogram
    return {key: build_metrics_section(by_key[key]) for key in sorted(by_key, key=by_turn_order)}


def build_by_input_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, dict[str, MetricFigures]]:
    """{bucket: {metric: figures}} from the by-input metrics among `totals` ("ttft@in:512" ->
    ["512"]["ttft"]): buckets in size order ("1", "2", ..., "65536+"); empty when no turn's input
    size was known."""
    by_key: dict[str, dict[str, LatencyHistogram]] = {}
    for name, histogram in totals.items():
        split = split_by_input(name)
        if split is not None:
            by_key.setdefault(split[1], {})[split[0]] = histogram
    return {key: build_metrics_section(by_key[key]) for key in sorted(by_key, key=by_input_order)}


def build_conversation_section(counters: Mapping[str, int]) -> Conversation:
    """{conversations_started, persona_switches, context_truncations, context_turns_dropped}
    (`rtbench.metrics.names.CONVERSATION_COUNTERS`), 0 for a counter never counted."""
    return cast(Conversation, {name: counters.get(name, 0) for name in CONVERSATION_COUNTERS})


def build_clamped_section(totals: Mapping[str, LatencyHistogram]) -> dict[str, int]:
    """{metric: values clamped into the 1 us .. 1 h range}, for every metric with data (by-turn
    metrics left out: their values are their metric's)."""
    return {name: totals[name].clamped for name in _metric_order(totals)}


class RecoverySection(TypedDict):
    """The session keys of Delivery (`build_recovery_section`)."""

    uptime_ratio: float | None
    continuity_ratio: float | None
    duplicates: int
    seq_gaps: int
    recovery: Recovery


class ConnectSection(TypedDict):
    """The connection keys of Delivery (`build_connect_section`)."""

    connects: int
    connect_failed: int
    connect_failed_by_kind: dict[str, int]
    connect_success_ratio: float | None


def build_delivery_section(counters: Mapping[str, int]) -> Delivery:
    """{turns_sent, turns_completed, turns_cancelled, failed: {...}, unaccounted, delivery_ratio, then the
    session figures of `build_recovery_section`} (`rtbench.bundle.ratios.DELIVERY_RATIO`)."""
    sent, completed = counters.get("turns_sent", 0), counters.get("turns_completed", 0)
    cancelled = counters.get("turns_cancelled", 0)
    failed = {kind: counters.get(failure_counter(kind), 0) for kind in FAILURE_KINDS}
    sessions = build_recovery_section(counters)
    return {
        "turns_sent": sent,
        "turns_completed": completed,
        "turns_cancelled": cancelled,
        "turns_late": counters.get("turns_late", 0),
        "turns_resent": counters.get("turns_resent", 0),
        "failed": failed,
        "failed_reasons": failed_reasons(counters),
        "unaccounted": unaccounted_turns(sent, completed, sum(failed.values()), cancelled),
        "delivery_ratio": delivery_ratio(completed, sum(failed.values())),
        "uptime_ratio": sessions["uptime_ratio"],
        "continuity_ratio": sessions["continuity_ratio"],
        "duplicates": sessions["duplicates"],
        "seq_gaps": sessions["seq_gaps"],
        "recovery": sessions["recovery"],
    }


def build_process_delivery(counters: Mapping[str, int]) -> ProcessDelivery:
    """One load process's own turns (its last report): the invariant's terms and `unaccounted`."""
    sent, completed = counters.get("turns_sent", 0), counters.get("turns_completed", 0)
    cancelled = counters.get("turns_cancelled", 0)
    failed = sum(counters.get(failure_counter(kind), 0) for kind in FAILURE_KINDS)
    return {
        "turns_sent": sent,
        "turns_completed": completed,
        "turns_failed": failed,
        "turns_cancelled": cancelled,
        "unaccounted": unaccounted_turns(sent, completed, failed, cancelled),
    }


def build_recovery_section(counters: Mapping[str, int]) -> RecoverySection:
    """Sessions and their recovery after drops (counter definitions: `SESSION_COUNTERS`; ratios:
    `rtbench.bundle.ratios.UPTIME_RATIO` and `CONTINUITY_RATIO`). duplicates and seq_gaps are
    frames seen twice after a replay and gaps in the sequence."""
    session_us, downtime_us = counters.get("session_us", 0), counters.get("downtime_us", 0)
    started, lost = counters.get("sessions_started", 0), counters.get("sessions_lost", 0)
    return {
        "uptime_ratio": uptime_ratio(session_us, downtime_us),
        "continuity_ratio": continuity_ratio(started, lost),
        "duplicates": counters.get("frames_duplicate", 0),
        "seq_gaps": counters.get(error_frame_counter("seq_gap"), 0),
        "recovery": {
            "drops": counters.get("session_drops", 0),
            "resumed": counters.get("resumes_ok", 0),
            "resume_failed": counters.get("resumes_failed", 0),
            "gave_up": counters.get("recovery_gave_up", 0),
            "attempts": counters.get("recovery_attempts", 0),
            "sessions_started": started,
            "sessions_lost": lost,
            "session_s": round(session_us / 1e6, 3),
            "downtime_s": round(downtime_us / 1e6, 3),
        },
    }


def build_connect_section(counters: Mapping[str, int]) -> ConnectSection:
    """Connection attempts, failed ones by kind (non-zero kinds only, by name), and
    `rtbench.bundle.ratios.CONNECT_SUCCESS_RATIO`."""
    ok, failed = counters.get("connect_ok", 0), counters.get("connect_failed", 0)
    by_kind = {kind: n for name, n in sorted(counters.items()) if (kind := connect_failed_kind(name)) is not None and n}
    return {
        "connects": ok + failed,
        "connect_failed": failed,
        "connect_failed_by_kind": by_kind,
        "connect_success_ratio": connect_success_ratio(ok, failed),
    }


def token_count_method(counters: Mapping[str, int]) -> RunTokenCountMethod:
    """How tokens were counted: "usage", "frames", "mixed" (both) or "none" (no completed turn)."""
    used = [m for m in TOKEN_COUNT_METHODS if counters.get(token_method_counter(m), 0)]
    if not used:
        return "none"
    return used[0] if len(used) == 1 else "mixed"
