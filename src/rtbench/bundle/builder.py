"""The one summary builder: `build_summary(RunRecord) -> Summary`, pure (SCHEMA.md).

The live run and the rebuild of a killed run both call it, so each figure has one definition:
the coverage of `metrics` (the reported phases, and every phase for `WHOLE_RUN_METRICS`) and of
`metrics_by_turn` (the same phases; by-turn histograms are in no other section), the
derived ratios (`rtbench.bundle.ratios`), the client self-check and the target's resources, both
over the steady seconds (every second when none was steady).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence

from rtbench.bundle.ratios import goodput_per_s, goodput_ratio, ratio
from rtbench.bundle.record import TARGET_SERVER_COLUMNS, TIMESERIES_COUNTERS, RunRecord, SecondSample
from rtbench.bundle.sections import (
    build_by_input_section,
    build_by_turn_section,
    build_connect_section,
    build_conversation_section,
    build_delivery_section,
    build_metrics_section,
    build_process_delivery,
    token_count_method,
)
from rtbench.bundle.summary import SCHEMA_VERSION
from rtbench.bundle.summary_types import Delivery, Goodput, SelfCheck, Summary, TargetSection
from rtbench.bundle.throughput import build_throughput_section, reported_seconds
from rtbench.bundle.trace import build_trace_section
from rtbench.bundle.trust import (
    STALL_MS,
    STARVED_TURN_SHARE,
    UNTRUSTED_LAG_MAX_MS,
    UNTRUSTED_RUNQ_DELAY_MS,
    Trust,
    judge_seconds,
    share_text,
)
from rtbench.bundle.wire import build_wire_section, declined_warning
from rtbench.metrics.breakdowns import is_breakdown_metric
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import FAILURE_KINDS, WHOLE_RUN_METRICS, bounded_error_counters, failure_counter
from rtbench.metrics.phases import Phase

__all__ = [
    "build_summary",
    "merged_histograms",
    "merged_counters",
    "reported_phases",
    "SATURATION_CPU_PERCENT",
    "SATURATION_LAG_P99_MS",
]

ALL_PHASES: tuple[Phase, ...] = (Phase.RAMP, Phase.STEADY, Phase.STOP)
SATURATION_CPU_PERCENT = 85.0
SATURATION_LAG_P99_MS = 10.0


def reported_phases(include_ramp: bool) -> tuple[Phase, ...]:
    """The phases `metrics` and `goodput` cover: steady, or every phase with include_ramp."""
    return ALL_PHASES if include_ramp else (Phase.STEADY,)


def merged_histograms(
    by_phase: Mapping[Phase, Mapping[str, LatencyHistogram]], phases: Iterable[Phase]
) -> dict[str, LatencyHistogram]:
    """Metric -> a fresh histogram adding `phases`' histograms exactly."""
    out: dict[str, LatencyHistogram] = {}
    for phase in dict.fromkeys(phases):
        for metric, histogram in by_phase.get(phase, {}).items():
            merged = out.get(metric)
            if merged is None:
                merged = out[metric] = LatencyHistogram()
            merged.add(histogram)
    return out


def merged_counters(by_phase: Mapping[Phase, Mapping[str, int]], phases: Iterable[Phase]) -> dict[str, int]:
    """Counter -> total over `phases` (names in the order first seen)."""
    out: dict[str, int] = {}
    for phase in dict.fromkeys(phases):
        for name, n in by_phase.get(phase, {}).items():
            out[name] = out.get(name, 0) + n
    return out


def _clamped(record: RunRecord) -> dict[str, int]:
    """Metric -> values clamped over every phase; by-turn and by-input metrics left out (their
    values are their metric's, counted there)."""
    out: dict[str, int] = {}
    for phase in ALL_PHASES:
        for metric, histogram in record.histograms.get(phase, {}).items():
            if not is_breakdown_metric(metric):
                out[metric] = out.get(metric, 0) + histogram.clamped
    return out


def _reported_metrics(record: RunRecord) -> dict[str, LatencyHistogram]:
    metrics = merged_histograms(record.histograms, reported_phases(record.include_ramp))
    for name, histogram in merged_histograms(record.histograms, ALL_PHASES).items():
        if name in WHOLE_RUN_METRICS:
            metrics[name] = histogram
    return metrics


def _delivery(record: RunRecord, counters: Mapping[str, int]) -> Delivery:
    if not record.complete:  # the time series counts failed turns, not their kinds
        completed = counters.get("turns_completed", 0)
        return {
            "turns_sent": counters.get("turns_sent", 0),
            "turns_completed": completed,
            "turns_failed": record.failed_turns,
            "delivery_ratio": ratio(completed, completed + record.failed_turns),
        }
    delivery = build_delivery_section(counters)
    connects = build_connect_section(counters)
    delivery["connects"] = connects["connects"]
    delivery["connect_failed"] = connects["connect_failed"]
    delivery["connect_failed_by_kind"] = connects["connect_failed_by_kind"]
    delivery["connect_success_ratio"] = connects["connect_success_ratio"]
    if record.processes:
        delivery["by_process"] = {name: build_process_delivery(c) for name, c in sorted(record.processes.items())}
    return delivery


def _goodput(record: RunRecord, counters: Mapping[str, int], phases: Sequence[Phase]) -> Goodput:
    """Turns that met every per-turn limit, per second of the reported phases (`ratios.GOODPUT_*`)."""
    limits = dict(record.turn_limits_ms)
    if not limits:
        return {"limits_ms": {}, "turns_good": None, "per_s": None, "ratio": None}
    seconds = reported_seconds(record.phases, record.started_at, record.ended_at, phases)
    good, completed = counters.get("turns_good", 0), counters.get("turns_completed", 0)
    ended = completed + sum(counters.get(failure_counter(kind), 0) for kind in FAILURE_KINDS)
    return {
        "limits_ms": limits,
        "turns_good": good,
        "per_s": goodput_per_s(good, seconds),
        "ratio": goodput_ratio(good, ended),
        "turns_completed": completed,
    }


def _known(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def _self_check(record: RunRecord, seconds: Sequence[SecondSample]) -> SelfCheck:
    cpus = _known(s.client_cpu for s in seconds)
    lag = record.histograms.get(Phase.STEADY, {}).get("client_lag")
    lag_p99 = round(lag.percentiles([99.0])[99.0] / 1000.0, 3) if lag is not None and lag.total_count else None
    cpu_mean = round(statistics.fmean(cpus), 1) if cpus else None
    rss = _known(s.client_rss_mb for s in seconds)
    per_session = [
        (s.client_rss_mb - s.client_rss_idle_mb) * 1024 / s.sessions
        for s in seconds
        if s.client_rss_mb is not None and s.client_rss_idle_mb and s.sessions
    ]
    trust = judge_seconds(seconds)
    reasons = []
    if cpu_mean is not None and cpu_mean > SATURATION_CPU_PERCENT:
        reasons.append(f"CPU mean {cpu_mean:g}% > {SATURATION_CPU_PERCENT:g}%")
    if lag_p99 is not None and lag_p99 > SATURATION_LAG_P99_MS:
        reasons.append(f"lag p99 {lag_p99:g} ms > {SATURATION_LAG_P99_MS:g} ms")
    if trust.starved:
        reasons.append(_starved_reason(trust))
    saturated = bool(reasons)
    share = share_text(trust)
    return {
        "client_cpu_max": max(cpus) if cpus else None,
        "client_cpu_mean": cpu_mean,
        "client_lag_p99_ms": lag_p99,
        "client_lag_max_ms": trust.lag_max_ms,
        "client_runq_ms_max": trust.runq_ms_max,
        "client_runq_ms_mean": trust.runq_ms_mean,
        "client_runq_delay_ms_max": trust.runq_delay_ms_max,
        "client_runq_delay_ms_mean": trust.runq_delay_ms_mean,
        "machine_cpu_max": trust.machine_cpu_max,
        "machine_cpu_mean": trust.machine_cpu_mean,
        "client_rss_mb_max": max(rss) if rss else None,
        "client_rss_per_session_kb": round(statistics.median(per_session), 3) if per_session else None,
        "untrusted_seconds": list(trust.untrusted_seconds),
        "untrusted_turns": trust.untrusted_turns,
        "untrusted_turn_share": trust.untrusted_turn_share,
        "starved": trust.starved,
        "saturated": saturated,
        "message": (
            f"client saturated: latencies inflated ({'; '.join(reasons)}); {share}"
            if saturated
            else f"client not saturated; {share}"
        ),
        "thresholds": {
            "cpu_percent": SATURATION_CPU_PERCENT,
            "lag_p99_ms": SATURATION_LAG_P99_MS,
            "untrusted_lag_max_ms": UNTRUSTED_LAG_MAX_MS,
            "untrusted_runq_delay_ms": UNTRUSTED_RUNQ_DELAY_MS,
            "starved_turn_share": STARVED_TURN_SHARE,
            "stall_ms": STALL_MS,
        },
    }


def _starved_reason(trust: Trust) -> str:
    """Why the client counts as starved: a stall, or too many turns in untrusted seconds."""
    if trust.stalled:
        return f"starved: a {trust.lag_max_ms:g} ms stall >= {STALL_MS:g} ms"
    waits = ""
    if trust.runq_delay_ms_max is not None and trust.runq_ms_max is not None:
        waits = f", waits for a core up to {trust.runq_delay_ms_max:g} ms a run and {trust.runq_ms_max:g} ms/s"
    machine = f", machine CPU up to {trust.machine_cpu_max:g}%" if trust.machine_cpu_max is not None else ""
    return f"starved: over {STARVED_TURN_SHARE:.0%} of turns in untrusted seconds{waits}{machine}"


def _target(record: RunRecord, seconds: Sequence[SecondSample]) -> TargetSection:
    idle = record.target_idle_rss_bytes
    rss = _known(s.target_rss_mb for s in seconds)
    cpu = _known(s.target_cpu for s in seconds)
    per_session = [
        (s.target_rss_mb * 2**20 - idle) / s.sessions / 1024
        for s in seconds
        if s.target_rss_mb is not None and idle is not None and s.sessions
    ]
    held = [s.target_sessions for s in seconds if s.target_sessions is not None]
    section: TargetSection = {
        "source": record.target_source,
        "rss_mb_idle": round(idle / 2**20, 3) if idle is not None else None,
        "rss_mb_max": max(rss) if rss else None,
        "rss_per_session_kb": round(statistics.median(per_session), 3) if per_session else None,
        "cpu_percent_max": max(cpu) if cpu else None,
        "cpu_percent_mean": round(statistics.fmean(cpu), 1) if cpu else None,
        "sessions_max": max(held, default=None),
    }
    if any(getattr(s, column) is not None for s in seconds for column in TARGET_SERVER_COLUMNS):
        section["waiting_max"] = _server_figure(seconds, "target_waiting")
        section["running_max"] = _server_figure(seconds, "target_running")
        section["kv_cache_pct_max"] = _server_figure(seconds, "target_kv_cache_pct")
        section["prompt_tokens_per_s_mean"] = _server_figure(seconds, "target_prompt_tokens_per_s", mean=True)
        section["generation_tokens_per_s_mean"] = _server_figure(seconds, "target_generation_tokens_per_s", mean=True)
    return section


def _server_figure(seconds: Sequence[SecondSample], column: str, mean: bool = False) -> float | None:
    """An LLM server's own metric over `seconds` (its peak, or its mean), None where it had none."""
    values = _known(getattr(s, column) for s in seconds)
    if not values:
        return None
    return round(statistics.fmean(values), 1) if mean else max(values)


def _warnings(
    record: RunRecord, clamped: Mapping[str, int] | None, self_check: SelfCheck, delivery: Delivery
) -> list[str]:
    warnings = list(record.warnings)
    if delivery.get("unaccounted"):
        warnings.append(f"{delivery['unaccounted']} turns sent were counted neither completed, failed nor cancelled")
    for name, process in delivery.get("by_process", {}).items():
        if process["unaccounted"]:
            warnings.append(f"load process {name}: {process['unaccounted']} turns sent were not counted")
    if clamped is not None and any(clamped.values()):
        warnings.append(f"values below 0 or above 1 h were clamped into range: {dict(clamped)}")
    if record.late_intervals:
        warnings.append(
            f"{record.late_intervals} intervals arrived after their second was written; "
            "they are in the totals but not in the .hlog files"
        )
    if self_check["saturated"]:
        warnings.append(self_check["message"])
    declined = declined_warning(merged_counters(record.counters, ALL_PHASES)) if record.complete else None
    if declined is not None:
        warnings.append(declined)
    return warnings


def build_summary(record: RunRecord) -> Summary:
    """summary.json for `record` (SCHEMA.md). A record that is not `complete` gives no clamped
    counts, token-count method, goodput or conversation counters, and a Delivery of turns only."""
    reported = reported_phases(record.include_ramp)
    counters = bounded_error_counters(merged_counters(record.counters, ALL_PHASES))  # workers' codes differ
    if not record.complete:
        counters = {name: counters.get(name, 0) for name in TIMESERIES_COUNTERS}
    steady = [s for s in record.seconds if s.phase is Phase.STEADY] or list(record.seconds)
    self_check = _self_check(record, steady)
    clamped = _clamped(record)
    delivery = _delivery(record, counters)
    reported_metrics = _reported_metrics(record)
    reported_counters = merged_counters(record.counters, reported)
    throughput = build_throughput_section(record, reported_counters, reported)
    if not record.complete:  # the time series holds no input tokens, and goodput is not known
        throughput["input_tokens_per_s"] = throughput["input_tokens_per_s_per_user"] = None
        throughput["goodput_per_s"] = None
    summary: Summary = {
        "schema_version": SCHEMA_VERSION,
        "rtbench_version": record.rtbench_version,
        "scenario": record.scenario,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "partial": record.partial_reason is not None,
        "partial_reason": record.partial_reason,
        "phases": record.phases,
        "include_ramp": record.include_ramp,
        "throughput": throughput,
        "metrics": build_metrics_section(reported_metrics),
        "whole_run_metrics": sorted(WHOLE_RUN_METRICS),
        "metrics_by_phase": {
            p.value: build_metrics_section(merged_histograms(record.histograms, [p])) for p in ALL_PHASES
        },
        "metrics_by_turn": build_by_turn_section(reported_metrics),
        "metrics_by_input_tokens": build_by_input_section(reported_metrics),
        "clamped": clamped,
        "counters": counters,
        "delivery": delivery,
        "conversation": build_conversation_section(counters),
        "token_count_method": token_count_method(counters),
        "goodput": _goodput(record, reported_counters, reported),
        "sessions": {"peak": max((s.sessions or 0 for s in record.seconds), default=0)},
        "self_check": self_check,
        "target": _target(record, steady),
        "wire": build_wire_section(merged_counters(record.counters, reported), counters),
        "config": dict(record.config),
        "versions": dict(record.versions),
        "warnings": _warnings(record, clamped if record.complete else None, self_check, delivery),
        "events": [{"t": e.t, "kind": e.kind, "detail": e.detail} for e in record.events],
        "pid": record.pid,
    }
    if not record.complete:  # only the end of a run knows these
        del summary["clamped"], summary["token_count_method"], summary["goodput"], summary["conversation"]
        del summary["wire"]
    elif (trace := build_trace_section(record.config, counters)) is not None:
        summary["trace"] = trace
        if trace["unsent"]:
            summary["warnings"].append(f"{trace['unsent']} of {trace['rows']} trace rows were never sent")
    return summary
