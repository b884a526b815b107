"""Benchmark of `rtbench report`: render a synthetic 10-minute, 10k-session bundle N times.

The bundle is written with rtbench's own bundle writers (interval logs, time series, summary):
600 s of per-second intervals, 333 turns/s with 20 tokens each (so 6,660 ITL values a second),
10,000 sessions connected during a 30 s ramp, a 10 ms lag sampler, a monitored target.

Run: .venv/bin/python benchmarks/report_render.py [--runs 5] [--seconds 600] [--keep DIR]

`synthesise_bundle` is also the tests' bundle factory (tests/rtbench/report/conftest.py). With
`Shape.conversation_turns`, turns belong to conversations of that many turns: TTFT grows with the
turn index and after a persona switch, and the by-turn and persona metrics are written too.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rtbench.bundle.hlog import IntervalLogWriter
from rtbench.bundle.paths import BundlePaths
from rtbench.bundle.sections import (
    build_by_turn_section,
    build_clamped_section,
    build_conversation_section,
    build_delivery_section,
    build_metrics_section,
)
from rtbench.bundle.summary import write_summary
from rtbench.bundle.timeseries import TimeseriesWriter
from rtbench.load.bundle_writer import TIMESERIES_COLUMNS
from rtbench.metrics.breakdowns import BY_TURN_METRICS, by_turn_metric
from rtbench.metrics.histogram import LatencyHistogram

__all__ = ["Shape", "synthesise_bundle", "main"]

START = 1_800_000_000
#: Per metric: lognormal median (us) and sigma of the synthetic latencies.
LATENCY_MODEL: dict[str, tuple[float, float]] = {
    "ttft": (50_000.0, 0.25),
    "itl": (10_000.0, 0.3),
    "tpot": (10_000.0, 0.05),
    "e2e": (240_000.0, 0.08),
    "client_lag": (600.0, 0.8),
    "connect": (8_000.0, 0.5),
}
LAG_SAMPLES_PER_S = 100
#: Conversations: the TTFT each earlier turn adds (prefill of the history), and a persona switch.
PREFILL_US_PER_TURN = 4_000
SWITCH_US = 30_000
#: Every SWITCH_EVERY-th turn (after the first of its conversation) follows a persona switch.
SWITCH_EVERY = 7


@dataclass(frozen=True)
class Shape:
    """The synthetic run: its length, load and phases (seconds)."""

    seconds: int = 600
    sessions: int = 10_000
    turns_per_s: int = 333
    tokens_per_turn: int = 20
    ramp_s: int = 30
    stop_s: int = 10
    target: bool = True
    seed: int = 1
    #: Turns per conversation (0: single turns, no conversation metrics).
    conversation_turns: int = 0

    def phase(self, second: int) -> str:
        if second < self.ramp_s:
            return "ramp"
        return "stop" if second >= self.seconds - self.stop_s else "steady"


def _draw(rng: np.random.Generator, metric: str, count: int) -> np.ndarray:
    median, sigma = LATENCY_MODEL[metric]
    return np.maximum(1, np.rint(rng.lognormal(np.log(median), sigma, count))).astype(np.int64)


def _histogram(values: np.ndarray, second: int) -> LatencyHistogram:
    h = LatencyHistogram()
    unique, counts = np.unique(values, return_counts=True)
    for value, count in zip(unique.tolist(), counts.tolist(), strict=False):
        h.record(value, count)
    h.start_ms, h.end_ms = second * 1000.0, (second + 1) * 1000.0
    return h


def _counts(shape: Shape, i: int) -> dict[str, int]:
    """Values recorded in second `i` of the run, per metric."""
    ramp_share = min(1.0, (i + 1) / shape.ramp_s)
    turns = int(shape.turns_per_s * ramp_share) if shape.phase(i) != "stop" else shape.turns_per_s // 4
    counts = {m: turns for m in ("ttft", "tpot", "e2e")}
    counts["itl"] = turns * shape.tokens_per_turn
    counts["client_lag"] = LAG_SAMPLES_PER_S
    counts["connect"] = shape.sessions // shape.ramp_s if i < shape.ramp_s else 0
    return counts


def _converse(shape: Shape, drawn: dict[str, np.ndarray], first_turn: int) -> dict[str, int]:
    """Give the second's turns (numbered from `first_turn` in the run) their conversation: TTFT
    grows with the turn index and after a switch; adds the by-turn and persona values to `drawn`
    and returns the second's conversation counters."""
    numbers = first_turn + np.arange(len(drawn["ttft"]))
    index = numbers % shape.conversation_turns + 1
    switched = (index > 1) & (numbers % SWITCH_EVERY == 0)
    drawn["ttft"] = drawn["ttft"] + (index - 1) * PREFILL_US_PER_TURN + switched * SWITCH_US
    for metric in BY_TURN_METRICS:
        for turn in np.unique(index).tolist():
            name = by_turn_metric(metric, turn)
            drawn[name] = np.concatenate([drawn.get(name, np.array([], np.int64)), drawn[metric][index == turn]])
    drawn["persona_switch"] = drawn["ttft"][switched]
    drawn["ttft_same_persona"] = drawn["ttft"][(index > 1) & ~switched]
    return {"conversations_started": int((index == 1).sum()), "persona_switches": int(switched.sum())}


def _ms(values: np.ndarray, pct: float) -> float | None:
    return round(float(np.percentile(values, pct)) / 1000.0, 3) if len(values) else None


def _row(shape: Shape, i: int, drawn: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, Any]:
    sessions = min(shape.sessions, shape.sessions * (i + 1) // shape.ramp_s)
    turns = len(drawn["ttft"])
    row: dict[str, Any] = {
        "time": START + i,
        "second": i,
        "phase": shape.phase(i),
        "users": sessions,
        "sessions": sessions,
        "in_flight": turns // 4,
        "turns_sent": turns,
        "turns_completed": turns,
        "turns_failed": 0,
        "tokens": turns * shape.tokens_per_turn,
        "client_cpu": round(float(rng.normal(30, 3)), 2),
        "client_lag_p99_ms": _ms(drawn["client_lag"], 99),
        "client_rss_mb": round(80 + sessions * 0.017, 3),
    }
    for metric, pcts in (("ttft", (50, 95, 99)), ("e2e", (50, 95, 99)), ("itl", (50, 99))):
        for pct in pcts:
            row[f"{metric}_p{pct}_ms"] = _ms(drawn[metric], pct)
    if shape.target:
        row.update(
            target_rss_mb=round(45 + sessions * 0.02, 3),
            target_cpu=round(float(rng.normal(20, 2)), 2),
            target_sessions=sessions,
        )
    return row


def synthesise_bundle(directory: Path, shape: Shape = Shape(), slo: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a complete bundle for `shape` into `directory`; return its summary."""
    rng = np.random.default_rng(shape.seed)
    paths = BundlePaths(Path(directory))
    paths.root.mkdir(parents=True, exist_ok=True)
    logs = {m: IntervalLogWriter(paths.hlog(m), START) for m in LATENCY_MODEL}
    totals: dict[str, dict[str, LatencyHistogram]] = {p: {} for p in ("ramp", "steady", "stop")}
    turns = 0
    conversation: dict[str, int] = {}
    with TimeseriesWriter(paths.timeseries, TIMESERIES_COLUMNS) as series:
        for i in range(shape.seconds):
            drawn = {m: _draw(rng, m, n) for m, n in _counts(shape, i).items()}
            if shape.conversation_turns:
                for name, n in _converse(shape, drawn, turns).items():
                    conversation[name] = conversation.get(name, 0) + n
            for metric, values in drawn.items():
                if len(values):
                    h = _histogram(values, START + i)
                    if metric not in logs:
                        logs[metric] = IntervalLogWriter(paths.hlog(metric), START)
                    logs[metric].write(START + i, h)
                    totals[shape.phase(i)].setdefault(metric, LatencyHistogram()).add(h)
            turns += len(drawn["ttft"])
            series.write(_row(shape, i, drawn, rng))
    for log in logs.values():
        log.close()
    steady = dict(totals["steady"])
    steady["connect"] = totals["ramp"]["connect"]
    counters = {
        "turns_sent": turns,
        "turns_completed": turns,
        "connect_ok": shape.sessions,
        "tokens": turns * shape.tokens_per_turn,
        "token_count_usage": turns,
        **conversation,
    }
    ramp_end, stop_start = START + shape.ramp_s, START + shape.seconds - shape.stop_s
    summary = {
        "rtbench_version": "0.1.0",
        "scenario": "synthetic",
        "started_at": float(START),
        "ended_at": float(START + shape.seconds),
        "partial": False,
        "partial_reason": None,
        "phases": {
            "ramp": {"start": float(START), "end": float(ramp_end)},
            "steady": {"start": float(ramp_end), "end": float(stop_start)},
            "stop": {"start": float(stop_start), "end": float(START + shape.seconds)},
        },
        "include_ramp": False,
        "metrics": build_metrics_section(steady),
        "whole_run_metrics": ["connect"],
        "metrics_by_phase": {p: build_metrics_section(t) for p, t in totals.items()},
        "metrics_by_turn": build_by_turn_section(steady),
        "clamped": build_clamped_section(steady),
        "counters": counters,
        "delivery": build_delivery_section(counters),
        "conversation": build_conversation_section(counters),
        "token_count_method": "usage",
        "goodput": None,
        "sessions": {"peak": shape.sessions},
        "self_check": {
            "client_cpu_max": 40.0,
            "client_cpu_mean": 30.0,
            "client_rss_mb_max": 250.0,
            "client_rss_per_session_kb": 17.0,
            "client_lag_p99_ms": 3.0,
            "saturated": False,
            "message": "client not saturated",
            "thresholds": {"cpu_percent": 85.0, "lag_p99_ms": 10.0},
        },
        "target": {
            "rss_mb_idle": 45.0,
            "rss_mb_max": 245.0,
            "rss_per_session_kb": 20.5,
            "cpu_percent_max": 26.0,
            "cpu_percent_mean": 20.0,
            "sessions_max": shape.sessions,
            "source": "pid",
        }
        if shape.target
        else dict.fromkeys(
            (
                "rss_mb_idle",
                "rss_mb_max",
                "rss_per_session_kb",
                "cpu_percent_max",
                "cpu_percent_mean",
                "sessions_max",
                "source",
            )
        ),
        "config": {
            "scenario": "synthetic",
            "target": "ws://127.0.0.1:8765/ws",
            "users": shape.sessions,
            "headers": [["Authorization", "***"]],
            "slo": slo or {},
        },
        "versions": {"rtbench": "0.1.0"},
        "warnings": [],
        "pid": 1,
    }
    write_summary(paths.summary, summary)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--keep", type=Path, help="write the bundle here and keep it")
    args = parser.parse_args()
    from rtbench.report import render_report

    directory = args.keep or Path(tempfile.mkdtemp(prefix="rtbench-report-bench-"))
    try:
        started = time.perf_counter()
        synthesise_bundle(directory, Shape(seconds=args.seconds), slo={"ttft": "p95 < 100ms", "e2e": "p99 < 1s"})
        size = sum(p.stat().st_size for p in directory.iterdir() if p.is_file())
        print(f"synthesised {args.seconds} s bundle ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            report = render_report(directory)
            times.append(time.perf_counter() - started)
        print(
            f"render_report: median {statistics.median(times):.2f} s over {args.runs} runs "
            f"(min {min(times):.2f}, max {max(times):.2f}); report.html {report.stat().st_size / 1e6:.2f} MB"
        )
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
