"""`RunRecord`: everything `build_summary` needs to know about one run, as plain typed data.

The live run (`rtbench.load.bundle_writer`) fills one from its aggregator and monitors; a killed
run's report (`rtbench.report.rebuild`) fills one from the interval logs and time series it left,
with `complete=False`: then only the time series' counters are known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rtbench.bundle.events import RunEvent
from rtbench.bundle.summary_types import Phases
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.phases import Phase

__all__ = ["RunRecord", "SecondSample", "TARGET_SERVER_COLUMNS", "TIMESERIES_COUNTERS"]

#: The counters a time series row holds (timeseries.csv), so the only ones a rebuilt record knows.
TIMESERIES_COUNTERS: tuple[str, ...] = ("turns_sent", "turns_completed", "tokens")

#: An LLM server's own metrics in a time series row and a `SecondSample` (--target-metrics).
TARGET_SERVER_COLUMNS = (
    "target_waiting",
    "target_running",
    "target_kv_cache_pct",
    "target_prompt_tokens_per_s",
    "target_generation_tokens_per_s",
)


@dataclass(frozen=True)
class SecondSample:
    """The gauges of one closed second (a row of timeseries.csv, plus the client's idle RSS)."""

    phase: Phase
    #: Seconds since the run's first whole second (timeseries.csv's `second`).
    second: int | None = None
    sessions: int | None = None
    #: Users running (started, not yet stopped) at the end of this second (all load processes).
    users: int | None = None
    #: Turns completed in this second (the turns measured in it).
    turns_completed: int = 0
    client_cpu: float | None = None
    #: The latest wake of the 10 ms sleeper in this second, over every load process, ms.
    client_lag_max_ms: float | None = None
    #: Run-queue wait of the most starved load process: ms of this second runnable without a core,
    #: and its mean wait for a core each time it was put on one (how late it handled a wake-up), ms.
    client_runq_ms: float | None = None
    client_runq_delay_ms: float | None = None
    #: CPU percent of the whole machine (100 = every core busy), the busiest machine of the run.
    machine_cpu: float | None = None
    client_rss_mb: float | None = None
    #: The load processes' RSS before any session, MB (not in timeseries.csv).
    client_rss_idle_mb: float | None = None
    target_rss_mb: float | None = None
    target_cpu: float | None = None
    target_sessions: int | None = None
    #: An LLM server's own metrics (--target-metrics): requests waiting for a slot and running,
    #: KV-cache use (%), and its prompt and generated tokens per second.
    target_waiting: float | None = None
    target_running: float | None = None
    target_kv_cache_pct: float | None = None
    target_prompt_tokens_per_s: float | None = None
    target_generation_tokens_per_s: float | None = None


@dataclass(frozen=True)
class RunRecord:
    """One run as the summary builder sees it. Histograms and counters are per phase, over the
    closed seconds (late intervals included); `seconds` holds every closed second in order."""

    rtbench_version: str | None
    scenario: str | None
    started_at: float | None
    ended_at: float | None
    partial_reason: str | None
    phases: Phases
    include_ramp: bool
    #: The run's configuration as summary.json states it (secrets redacted).
    config: Mapping[str, Any]
    #: Per-turn limits (metric -> ms) that make a completed turn "good".
    turn_limits_ms: Mapping[str, float]
    histograms: Mapping[Phase, Mapping[str, LatencyHistogram]]
    counters: Mapping[Phase, Mapping[str, int]]
    seconds: Sequence[SecondSample]
    target_source: str | None = None
    #: The target's RSS before any session, bytes (the baseline of RSS per session).
    target_idle_rss_bytes: float | None = None
    #: Intervals that arrived after their second was written (in the totals, not in the .hlog).
    late_intervals: int = 0
    #: Warnings raised during the run, before the builder adds its own.
    warnings: Sequence[str] = ()
    events: Sequence[RunEvent] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    pid: int | None = None
    #: False for a record rebuilt from a killed run's files: only `TIMESERIES_COUNTERS` are known
    #: (plus the failed turns of each second, `failed_turns`), and clamped counts are not.
    complete: bool = True
    #: Failed turns of a rebuilt record (all kinds together); unused when `complete`.
    failed_turns: int = 0
    #: Each load process's own turn counters at its last shipment (distributed runs), by its id:
    #: `turns_sent`, `turns_completed`, `turns_cancelled` and `failed_<kind>`.
    processes: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
