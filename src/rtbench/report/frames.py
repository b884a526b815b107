"""A result bundle read for the report: the summary, the time series as a pandas frame, and each
metric's interval log merged into one histogram per phase (each interval decoded once).

A partial bundle (a run interrupted or killed) may lack files: what is missing is listed in
`Bundle.missing` and the rest is read. A bundle with none of its files is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rtbench.bundle.events import RunEvent, events_from_summary, read_events
from rtbench.bundle.hlog import read_hlog
from rtbench.bundle.paths import SUMMARY_FILE, TIMESERIES_FILE, BundlePaths
from rtbench.bundle.summary import read_document, read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.bundle.timeseries import read_timeseries
from rtbench.errors import BundleError
from rtbench.metrics.breakdowns import by_turn_metric, is_breakdown_metric, turn_key_index
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.metrics.phases import Phase, PhaseBoundaries

__all__ = [
    "PHASES",
    "Bundle",
    "load_bundle",
    "timeseries_frame",
    "phase_spans",
    "percentile_curve",
    "value_counts",
    "merge_by_phase",
]

#: Phases in run order.
PHASES: tuple[str, ...] = tuple(p.value for p in Phase)
#: The largest 1/(1-p) of a percentile curve: 99.999%.
MAX_TAIL = 100_000.0
CURVE_POINTS = 120


@dataclass(frozen=True)
class Bundle:
    """What the report knows of one bundle directory.

    `summary` is None when summary.json is missing (or rebuilt from the other files, then
    `rebuilt` is true: `rtbench.report.rebuild`); `timeseries` is None when timeseries.csv is
    missing or empty; `histograms` maps metric -> phase -> merged histogram (phases without data
    are absent); `missing` names the files a complete bundle would have and this one lacks (a
    `stale_summary`, an older run's, counts as missing);
    `run` is run.json (empty when missing); `events` are the run's events in time order.
    """

    root: Path
    summary: Summary | None
    timeseries: pd.DataFrame | None
    histograms: dict[str, dict[str, LatencyHistogram]]
    missing: tuple[str, ...] = field(default=())
    run: dict[str, Any] = field(default_factory=dict)
    events: tuple[RunEvent, ...] = field(default=())
    rebuilt: bool = False
    #: summary.json was an older run's (its start is not run.json's): set aside, as if missing.
    stale_summary: bool = False

    @property
    def partial(self) -> bool:
        return self.summary is None or bool(self.summary.get("partial", True)) or bool(self.missing)

    @property
    def partial_reason(self) -> str | None:
        """Why the bundle is partial (None when it is complete)."""
        reasons = []
        summary = self.summary
        if summary is None or summary.get("partial", False):
            reasons.append(str((summary and summary.get("partial_reason")) or "the run did not finish"))
        missing = [m for m in self.missing if not (self.rebuilt and m == SUMMARY_FILE)]
        if missing:
            reasons.append("missing " + ", ".join(missing))
        return "; ".join(reasons) or None

    def coverage(self, metric: str) -> tuple[str, ...]:
        """The phases the report's figures for `metric` cover: those of summary.json's `metrics`
        (steady, or every phase with include_ramp or for a whole-run metric), or every phase
        when the steady phase has no data (a run stopped during its ramp)."""
        by_phase = self.histograms.get(metric, {})
        summary = self.summary
        whole_run = summary is not None and (
            summary.get("include_ramp") or metric in summary.get("whole_run_metrics", ())
        )
        if whole_run or Phase.STEADY.value not in by_phase:
            return tuple(p for p in PHASES if p in by_phase)
        return (Phase.STEADY.value,)

    def histogram(self, metric: str) -> LatencyHistogram | None:
        """`metric`'s histogram over `coverage(metric)`, None without data."""
        by_phase = self.histograms.get(metric, {})
        phases = self.coverage(metric)
        if not phases:
            return None
        merged = LatencyHistogram()
        for phase in phases:
            merged.add(by_phase[phase])
        return merged

    def metrics(self) -> list[str]:
        """Metrics with recorded values, in report order (by-turn and by-input metrics, "ttft@3" and
        "ttft@in:512", left out: summary.json's `metrics_by_turn` and `metrics_by_input_tokens`
        hold them)."""
        names = [
            m
            for m, by_phase in self.histograms.items()
            if not is_breakdown_metric(m) and any(h.total_count for h in by_phase.values())
        ]
        return [m for m in LATENCY_METRICS if m in names] + sorted(set(names) - set(LATENCY_METRICS))


def timeseries_frame(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The time series rows as a frame (empty cells as NaN), or None without rows."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column != "phase":
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def phase_spans(frame: pd.DataFrame) -> list[tuple[str, float, float]]:
    """Contiguous runs of one phase as (phase, first second, end second), from the frame's
    `second` and `phase` columns; a row's second s covers [s, s + 1)."""
    spans: list[tuple[str, float, float]] = []
    for phase, second in zip(frame["phase"], frame["second"], strict=False):
        if not isinstance(phase, str) or pd.isna(second):
            continue
        if spans and spans[-1][0] == phase and spans[-1][2] == second:
            spans[-1] = (phase, spans[-1][1], float(second) + 1)
        else:
            spans.append((phase, float(second), float(second) + 1))
    return spans


def _boundaries(summary: Summary | None, frame: pd.DataFrame | None) -> Callable[[int], Phase]:
    """The phase of an interval second, as the run assigned it: from summary.json's phase spans,
    else from the first steady and stop rows of the time series."""
    phases = summary.get("phases") if summary is not None else None
    if isinstance(phases, Mapping):
        steady, stop = phases.get("steady"), phases.get("stop")
        return PhaseBoundaries(
            ramp_end=steady.get("start") if steady else None, stop_start=stop.get("start") if stop else None
        )
    firsts: dict[str, float] = {}
    if frame is not None:
        for phase, second in zip(frame["phase"], frame["time"], strict=False):
            firsts.setdefault(str(phase), float(second))
    return PhaseBoundaries(ramp_end=firsts.get("steady"), stop_start=firsts.get("stop"))


def merge_by_phase(
    intervals: list[tuple[float, LatencyHistogram]], phase_of: Callable[[int], Phase]
) -> dict[str, LatencyHistogram]:
    """Interval histograms added into one histogram per phase (phases without intervals absent)."""
    merged: dict[str, LatencyHistogram] = {}
    for start, histogram in intervals:
        phase = phase_of(int(start)).value
        target = merged.get(phase)
        if target is None:
            merged[phase] = histogram
        else:
            target.add(histogram)
    return merged


def load_bundle(root: str | Path) -> Bundle:
    """Read the bundle in directory `root`. Raises BundleError (one line) when it is not a
    directory, holds none of a bundle's files, or holds a malformed one."""
    paths = BundlePaths(Path(root))
    if not paths.root.is_dir():
        raise BundleError(f"no result bundle at {paths.root}: not a directory")
    metrics = paths.hlog_metrics()
    has_summary, has_timeseries = paths.summary.is_file(), paths.timeseries.is_file()
    if not (has_summary or has_timeseries or metrics):
        raise BundleError(f"no result bundle at {paths.root}: no {SUMMARY_FILE}, {TIMESERIES_FILE} or .hlog file")
    summary = read_summary(paths.summary) if has_summary else None
    run = read_document(paths.run) if paths.run.is_file() else {}
    stale = summary is not None and _of_another_run(summary, run)
    if stale:  # an older run's, beside the files of one killed before its own summary
        summary, has_summary = None, False
    events = events_from_summary(summary) if summary is not None and "events" in summary else read_events(paths.events)
    frame = timeseries_frame(read_timeseries(paths.timeseries)) if has_timeseries else None
    phase_of = _boundaries(summary, frame)
    histograms = {m: merge_by_phase(read_hlog(paths.hlog(m)), phase_of) for m in metrics}
    expected = [m for m in _summary_metrics(summary) if m not in histograms]
    missing = [
        name for name, present in ((SUMMARY_FILE, has_summary), (TIMESERIES_FILE, has_timeseries)) if not present
    ]
    missing += [paths.hlog(m).name for m in expected]
    return Bundle(paths.root, summary, frame, histograms, tuple(missing), run, tuple(events), stale_summary=stale)


def _summary_metrics(summary: Summary | None) -> list[str]:
    """The metrics summary.json reports, each with an interval log: those of `metrics`, then the
    by-turn ones of `metrics_by_turn` ("ttft@3")."""
    if summary is None:
        return []
    names = list(summary.get("metrics", {}))
    by_turn = summary.get("metrics_by_turn")
    for key, metrics in by_turn.items() if isinstance(by_turn, Mapping) else ():
        index = turn_key_index(key)
        if index is not None and isinstance(metrics, Mapping):
            names += [by_turn_metric(str(metric), index) for metric in metrics]
    return names


def _of_another_run(summary: Summary, run: Mapping[str, Any]) -> bool:
    """True when summary.json and run.json give different start times: they are two runs'."""
    ours, theirs = summary.get("started_at"), run.get("started_at")
    if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)):
        return False
    return abs(float(ours) - float(theirs)) > 1e-3


def percentile_curve(histogram: LatencyHistogram, points: int = CURVE_POINTS) -> pd.DataFrame:
    """The percentile distribution: columns `percentile` (0..100), `tail` (1/(1-p), the x of an
    HDR percentile plot) and `value_ms`, from 0% up to 99.999% or the last percentile the count
    resolves (1 - 1/count)."""
    count = histogram.total_count
    if not count:
        return pd.DataFrame({"percentile": [], "tail": [], "value_ms": []})
    top = max(1.0, min(MAX_TAIL, float(count)))
    tails = np.unique(np.logspace(0.0, np.log10(top), points))
    percentiles = [float(p) for p in 100.0 * (1.0 - 1.0 / tails)]
    values = histogram.percentiles(percentiles)
    return pd.DataFrame(
        {"percentile": percentiles, "tail": tails, "value_ms": [values[p] / 1000.0 for p in percentiles]}
    )


def value_counts(histogram: LatencyHistogram) -> pd.DataFrame:
    """Every recorded HDR bucket: columns `value_ms` (the bucket's highest equivalent value) and
    `count`."""
    values, counts = [], []
    for item in histogram.hdr.get_recorded_iterator():
        values.append(item.value_iterated_to / 1000.0)
        counts.append(item.count_at_value_iterated_to)
    return pd.DataFrame({"value_ms": values, "count": counts})
