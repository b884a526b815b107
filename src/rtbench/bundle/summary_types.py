"""The shape of summary.json as types: one TypedDict per section of SCHEMA.md.

`Summary` is what `build_summary` returns and `read_summary` gives back, so mypy checks every key
a reader uses. Keys a summary rebuilt from a killed run's files cannot hold are `NotRequired`
(SCHEMA.md, "Partial bundles").
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, Required, TypedDict

__all__ = [
    "MetricFigures",
    "PhaseSpan",
    "Phases",
    "Recovery",
    "Delivery",
    "ProcessDelivery",
    "Goodput",
    "Conversation",
    "TraceSection",
    "SelfCheck",
    "SaturationThresholds",
    "TargetSection",
    "SessionsSection",
    "WireSection",
    "WireCompression",
    "EventRecord",
    "RunTokenCountMethod",
    "RunInputTokenMethod",
    "Throughput",
    "Summary",
]

#: How a run's tokens were counted: one method for every turn, "mixed", or "none" (no turn completed).
RunTokenCountMethod = Literal["usage", "frames", "mixed", "none"]
#: How a run's input tokens were counted: one method for every turn, "mixed", or "none".
RunInputTokenMethod = Literal["usage", "tokenizer", "estimate", "mixed", "none"]


class MetricFigures(TypedDict):
    """One latency metric in ms (`summarize_ms`): null figures when `count` is 0."""

    count: int
    min: float | None
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p99_9: float | None
    max: float | None


class PhaseSpan(TypedDict):
    """Wall-clock start and end of a phase, null when it was not reached."""

    start: float | None
    end: float | None


class Phases(TypedDict):
    ramp: PhaseSpan
    steady: PhaseSpan
    stop: PhaseSpan


class Recovery(TypedDict):
    """Dropped sessions and what became of them (counters: `SESSION_COUNTERS`)."""

    drops: int
    resumed: int
    resume_failed: int
    gave_up: int
    attempts: int
    sessions_started: int
    sessions_lost: int
    session_s: float
    downtime_s: float


class ProcessDelivery(TypedDict):
    """One load process's own turns, at its last report (distributed runs)."""

    turns_sent: int
    turns_completed: int
    turns_failed: int
    turns_cancelled: int
    unaccounted: int


class Delivery(TypedDict, total=False):
    """Turns and connections over all phases. A rebuilt summary holds only the required keys and
    `turns_failed` (the time series does not split failures by kind); a live one never holds
    `turns_failed` and holds every other key."""

    turns_sent: Required[int]
    turns_completed: Required[int]
    delivery_ratio: Required[float | None]
    turns_failed: int
    turns_cancelled: int
    turns_late: int
    turns_resent: int
    failed: dict[str, int]
    #: "<kind>: <reason>" -> failed turns (`rtbench.metrics.failures.REASONS`), most first.
    failed_reasons: dict[str, int]
    unaccounted: int
    by_process: dict[str, ProcessDelivery]
    uptime_ratio: float | None
    continuity_ratio: float | None
    duplicates: int
    seq_gaps: int
    recovery: Recovery
    connects: int
    connect_failed: int
    connect_failed_by_kind: dict[str, int]
    connect_success_ratio: float | None


class Goodput(TypedDict):
    """Turns within every per-turn limit; all null (and `limits_ms` empty) without limits."""

    limits_ms: dict[str, float]
    turns_good: int | None
    per_s: float | None
    ratio: float | None
    turns_completed: NotRequired[int]


class Throughput(TypedDict):
    """Requests and tokens per second over the reported phases (`rtbench.bundle.throughput`)."""

    #: Length of the seconds the reported phases own, s (every rate divides by it).
    seconds: float
    requests_per_s: float | None
    output_tokens_per_s: float | None
    input_tokens_per_s: float | None
    mean_users: float | None
    output_tokens_per_s_per_user: float | None
    input_tokens_per_s_per_user: float | None
    goodput_per_s: float | None
    input_token_method: RunInputTokenMethod
    output_token_method: RunTokenCountMethod


class Conversation(TypedDict):
    """Multi-turn conversations over all phases (counters: `CONVERSATION_COUNTERS`); 0 when none ran."""

    conversations_started: int
    persona_switches: int
    context_truncations: int
    context_turns_dropped: int


class TraceSection(TypedDict):
    """A trace replay's rows over all phases (counters: `TRACE_COUNTERS`); present for a trace run."""

    file: str
    speed: float
    rows: int
    sent: int
    late: int
    skipped: int
    #: Rows never sent: the run stopped (or hit its duration) first, or found no connection.
    unsent: int


class SaturationThresholds(TypedDict):
    cpu_percent: float
    lag_p99_ms: float
    untrusted_lag_max_ms: float
    untrusted_runq_delay_ms: float
    starved_turn_share: float
    stall_ms: float


class SelfCheck(TypedDict):
    """Was the load generator itself the bottleneck, or starved of a core (`rtbench.bundle.trust`)?"""

    client_cpu_max: float | None
    client_cpu_mean: float | None
    client_lag_p99_ms: float | None
    client_lag_max_ms: float | None
    client_runq_ms_max: float | None
    client_runq_ms_mean: float | None
    client_runq_delay_ms_max: float | None
    client_runq_delay_ms_mean: float | None
    machine_cpu_max: float | None
    machine_cpu_mean: float | None
    client_rss_mb_max: float | None
    client_rss_per_session_kb: float | None
    untrusted_seconds: list[int]
    untrusted_turns: int
    untrusted_turn_share: float | None
    starved: bool
    saturated: bool
    message: str
    thresholds: SaturationThresholds


class TargetSection(TypedDict):
    """The target's resources, when monitored."""

    source: str | None
    rss_mb_idle: float | None
    rss_mb_max: float | None
    rss_per_session_kb: float | None
    cpu_percent_max: float | None
    cpu_percent_mean: float | None
    sessions_max: int | None
    #: An LLM server's own metrics (--target-metrics; only when it exports any), over the steady
    #: seconds as the figures above: the most requests waiting for a slot and running at once, the
    #: highest KV-cache use (%), and its prompt and generated tokens/s, mean per second.
    waiting_max: NotRequired[float | None]
    running_max: NotRequired[float | None]
    kv_cache_pct_max: NotRequired[float | None]
    prompt_tokens_per_s_mean: NotRequired[float | None]
    generation_tokens_per_s_mean: NotRequired[float | None]


class SessionsSection(TypedDict):
    peak: int


#: What compression the WebSocket connections used: none offered or accepted, permessage-deflate
#: on every one, or on some (the server declined it on others).
WireCompression = Literal["none", "deflate", "partial"]


class WireSection(TypedDict):
    """Bytes on the wire against payload bytes, and HTTP connection reuse (`bundle.wire`)."""

    compression: WireCompression
    bytes_in_wire: int
    bytes_in_payload: int
    bytes_out_wire: int
    bytes_out_payload: int
    bandwidth_saving: float | None
    requests_per_connection: float | None
    connection_reuse: float | None


class EventRecord(TypedDict):
    """One event as summary.json lists it (`rtbench.bundle.events.Event.to_dict`)."""

    t: float
    kind: str
    detail: str


class Summary(TypedDict):
    """summary.json, schema_version 1 (SCHEMA.md)."""

    schema_version: int
    rtbench_version: str | None
    scenario: str | None
    started_at: float | None
    ended_at: float | None
    partial: bool
    partial_reason: str | None
    phases: Phases
    include_ramp: bool
    metrics: dict[str, MetricFigures]
    whole_run_metrics: list[str]
    metrics_by_phase: dict[str, dict[str, MetricFigures]]
    #: Turn key ("1", "2", ..., "10+") -> metric (ttft, tpot, e2e) -> figures, over `metrics`' phases.
    metrics_by_turn: dict[str, dict[str, MetricFigures]]
    #: Input-token bucket ("1", "2", "4", ..., "65536+") -> metric (ttft) -> figures, over `metrics`' phases.
    metrics_by_input_tokens: NotRequired[dict[str, dict[str, MetricFigures]]]
    throughput: NotRequired[Throughput]
    clamped: NotRequired[dict[str, int]]
    counters: dict[str, int]
    delivery: Delivery
    conversation: NotRequired[Conversation]
    token_count_method: NotRequired[RunTokenCountMethod]
    goodput: NotRequired[Goodput]
    trace: NotRequired[TraceSection]
    sessions: SessionsSection
    self_check: SelfCheck
    target: TargetSection
    wire: NotRequired[WireSection]
    config: dict[str, Any]
    versions: dict[str, str]
    warnings: list[str]
    events: list[EventRecord]
    pid: int | None
