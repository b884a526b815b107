"""Sweep the load: one full `rtbench run` a step (`--users 1,2,4,8` or `--rate 1,2,4`), then a table
of throughput against latency, and the knee: the last step before throughput stops growing."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.config import parse_duration
from rtbench.errors import ConfigError
from rtbench.workflow.capacity import OPEN_LOOP_ARRIVALS
from rtbench.workflow.plan import plan_run
from rtbench.workflow.steps import StepRun, load_flags, load_text, owned_by, run_step, steps_dir

__all__ = [
    "KNEE_GAIN",
    "SweepRequest",
    "SweepResult",
    "find_knee",
    "server_queue_from",
    "is_sweep_entry",
    "knee_line",
    "parse_loads",
    "step_throughput",
    "sweep",
]

#: Throughput "stops growing" when a step adds less than this fraction over the step before it,
#: and TTFT "grows" when its p50 rises by more than this fraction.
KNEE_GAIN = 0.10
#: A sweep's own files in its directory, beside its steps' bundles and logs.
is_sweep_entry = owned_by(re.compile(r"^(sweep\.json|sweep\.html|sweep\.png)$"))


@dataclass(frozen=True)
class SweepRequest:
    """What to sweep, as given on the command line: `users` or `rate` (comma-separated loads),
    each step as long as `duration` of steady state, or `requests` turns (then `duration`, if
    given, caps it); neither: the scenario's duration."""

    scenario: Path
    users: str | None = None
    rate: str | None = None
    arrival: str = "poisson"
    duration: str | None = None
    requests: int | None = None
    slo_file: Path | None = None
    target: str | None = None
    workers: str | None = None
    think_time: str | None = None
    out: Path | None = None
    #: Replace an earlier sweep's files in `out` (refused otherwise).
    overwrite: bool = False


@dataclass(frozen=True)
class SweepResult:
    """The steps measured, the knee (None: throughput never stopped growing), and where it wrote."""

    record: dict[str, Any]
    out_dir: Path
    page: Path
    #: True when the sweep stopped before its last step (Ctrl-C, a step that ended early).
    inconclusive: bool

    @property
    def knee(self) -> float | None:
        knee: float | None = self.record["knee"]
        return knee

    @property
    def line(self) -> str:
        return str(self.record["line"])


def _no_status(index: int, load: float) -> AbstractContextManager[object]:
    return nullcontext()


def parse_loads(text: str, flag: str, integers: bool) -> tuple[float, ...]:
    """ "1,2,4,8" as loads, in order; one `ConfigError` line for anything else."""
    kind = "positive integers" if integers else "positive numbers"
    try:
        loads = tuple(int(part) if integers else float(part) for part in text.split(","))
    except ValueError:
        loads = ()
    if not loads or any(load <= 0 for load in loads):
        raise ConfigError(f"{flag}: expected a comma-separated list of {kind}, e.g. 1,2,4,8, got {text!r}")
    if list(loads) != sorted(set(loads)):
        raise ConfigError(f"{flag}: expected loads in increasing order, each once, got {text!r}")
    return loads


def sweep(
    request: SweepRequest,
    on_step: Callable[[dict[str, Any], str], None] = lambda record, by: None,
    measuring: Callable[[int, float], AbstractContextManager[object]] = _no_status,
) -> SweepResult:
    """Run every step, writing its bundle and log, then sweep.json, sweep.html and sweep.png to the
    output directory. `on_step(record, by)` hears each step; `measuring(index, load)` is entered
    while a step runs. Ctrl-C ends the sweep with the steps done so far."""
    by, loads = _validate(request)
    config = plan_run(request.scenario, None, request.slo_file).config
    out_dir = steps_dir(request.out, request.overwrite, is_sweep_entry, "an earlier sweep", f"{config.scenario}-sweep")
    base = StepRun(
        request.scenario,
        request.duration,
        request.requests,
        request.slo_file,
        request.target,
        request.workers,
        request.think_time,
    ).command()
    steps: list[dict[str, Any]] = []
    stopped = None
    try:
        for index, load in enumerate(loads, 1):
            with measuring(index, load):
                bundle, summary = run_step(
                    [*base, *load_flags(by, load, config.load.spawn_rate, request.arrival)], load, out_dir, index
                )
            steps.append(step_record(load, bundle, summary))
            on_step(steps[-1], by)
            if steps[-1]["partial"]:
                stopped = f"step {index} ended early: {steps[-1]['partial']}"
                break
    except KeyboardInterrupt:
        stopped = "interrupted"
    knee = find_knee(steps)
    result = {
        "scenario": config.scenario,
        "by": by,
        "loads": list(loads),
        "knee": knee,
        "line": knee_line(knee, by, stopped),
        "server_queue_from": server_queue_from(steps),
        "stopped": stopped,
        "step": {"duration": request.duration, "requests": request.requests, "arrival": request.arrival},
        "steps": steps,
    }
    (out_dir / "sweep.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    from rtbench.report.sweep import render_sweep  # pandas-free, but matplotlib loads only here

    page = render_sweep(result, out_dir)
    return SweepResult(result, out_dir, page, stopped is not None)


def _validate(request: SweepRequest) -> tuple[str, tuple[float, ...]]:
    if (request.users is None) == (request.rate is None):
        raise ConfigError("sweep: give one of --users or --rate, e.g. --users 1,2,4,8")
    if request.arrival not in OPEN_LOOP_ARRIVALS:
        raise ConfigError(f"--arrival: expected constant or poisson, got {request.arrival!r}")
    if request.requests is not None and request.requests < 1:
        raise ConfigError(f"--requests: expected a positive integer, got {request.requests}")
    if request.duration is not None:
        try:
            parse_duration(request.duration)
        except ValueError as exc:
            raise ConfigError(f"--duration: expected {exc}, got {request.duration!r}") from None
    if request.users is not None:
        return "users", parse_loads(request.users, "--users", integers=True)
    return "rate", parse_loads(str(request.rate), "--rate", integers=False)


def step_record(load: float, bundle: Path, summary: Summary) -> dict[str, Any]:
    """One step's row of the table: throughput, TTFT and ITL p50/p95 and goodput, as reported."""
    metrics = summary["metrics"]
    target: Mapping[str, Any] = summary.get("target") or {}  # an LLM server's own queue, when exported
    requests_per_s, tokens_per_s = step_throughput(summary, bundle)
    goodput = summary.get("goodput")
    return {
        "load": load,
        "requests_per_s": requests_per_s,
        "output_tokens_per_s": tokens_per_s,
        "ttft_p50": _figure(metrics, "ttft", "p50"),
        "ttft_p95": _figure(metrics, "ttft", "p95"),
        "itl_p50": _figure(metrics, "itl", "p50"),
        "itl_p95": _figure(metrics, "itl", "p95"),
        "goodput": goodput["per_s"] if goodput else None,
        "turns": summary["delivery"]["turns_completed"],
        "saturated": bool(summary["self_check"]["saturated"]),
        "partial": summary.get("partial_reason") if summary.get("partial") else None,
        "server_running_max": target.get("running_max"),
        "server_waiting_max": target.get("waiting_max"),
        "bundle": bundle.name,
    }


def _figure(metrics: Mapping[str, Any], metric: str, stat: str) -> float | None:
    figures = metrics.get(metric)
    return figures[stat] if figures else None


def step_throughput(summary: Mapping[str, Any], bundle: Path) -> tuple[float | None, float | None]:
    """(requests/s, output tokens/s) over the phases the latencies cover: summary.json's
    `throughput` section when the bundle has one, else the bundle's time series: completed turns
    and tokens of the reported seconds (every second with include_ramp, else the steady ones)."""
    section = summary.get("throughput")
    if section:
        return section.get("requests_per_s"), section.get("output_tokens_per_s")
    every_phase = bool(summary.get("include_ramp"))
    try:
        with open(bundle / "timeseries.csv", newline="", encoding="utf-8") as file:
            rows = [row for row in csv.DictReader(file) if every_phase or row["phase"] == "steady"]
    except OSError:
        return None, None
    if every_phase:
        started, ended = summary.get("started_at"), summary.get("ended_at")
        seconds = float(ended - started) if started is not None and ended is not None else float(len(rows))
    else:
        seconds = float(len(rows))
    if seconds <= 0:
        return None, None
    turns = sum(int(row["turns_completed"] or 0) for row in rows)
    tokens = sum(int(row["tokens"] or 0) for row in rows)
    return round(turns / seconds, 3), round(tokens / seconds, 3)


def find_knee(steps: Sequence[Mapping[str, Any]]) -> float | None:
    """The load of the last step before throughput stops growing: the first step that adds less
    than `KNEE_GAIN` requests/s over the one before it while its TTFT p50 grows by more than
    `KNEE_GAIN` marks the step before it. None when no step does."""
    ordered = sorted(steps, key=lambda step: step["load"])
    for before, after in zip(ordered, ordered[1:], strict=False):
        gained, ttft = _ratio(after, before, "requests_per_s"), _ratio(after, before, "ttft_p50")
        if gained is not None and ttft is not None and gained < 1 + KNEE_GAIN and ttft > 1 + KNEE_GAIN:
            return float(before["load"])
    return None


def server_queue_from(steps: Sequence[Mapping[str, Any]]) -> float | None:
    """The load of the first step at which the target's own metrics (`--target-metrics`) showed
    requests waiting for a slot: where its concurrency limit was reached, which may lie beyond the
    throughput knee when compute runs out first. None when no step showed a queue."""
    for step in sorted(steps, key=lambda step: step["load"]):
        if (step.get("server_waiting_max") or 0) > 0:
            return float(step["load"])
    return None


def _ratio(after: Mapping[str, Any], before: Mapping[str, Any], key: str) -> float | None:
    a, b = after.get(key), before.get(key)
    return a / b if a is not None and b else None


def knee_line(knee: float | None, by: str, stopped: str | None) -> str:
    """ "knee: 4 users (throughput stops growing beyond it)", or that none was found."""
    unit = "users" if by == "users" else "turns/s"
    line = (
        f"knee: {load_text(knee)} {unit} (throughput grows less than {KNEE_GAIN:.0%} beyond it while TTFT grows)"
        if knee is not None
        else "knee: none found (throughput grew at every step, or TTFT did not grow)"
    )
    return f"{line}; sweep stopped early: {stopped}" if stopped else line
