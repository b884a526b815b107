"""Search capacity: step the load up, then bisect, each step a full `rtbench run` in its own process."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rtbench.capacity import CapacitySearch, Step
from rtbench.config import parse_duration
from rtbench.errors import ConfigError
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.slo.evaluate import evaluate
from rtbench.slo.spec import SloSpec
from rtbench.workflow.plan import plan_run
from rtbench.workflow.steps import RAMP_TARGET_S, StepRun, load_flags, owned_by, run_step, steps_dir

__all__ = ["CapacityRequest", "CapacityResult", "search_capacity", "is_capacity_entry", "RAMP_TARGET_S"]

SEARCH_BY = ("users", "rate")
#: A capacity search's own files in its directory, beside its steps' bundles and logs.
is_capacity_entry = owned_by(re.compile(r"^(capacity\.json|capacity\.html|knee\.png)$"))
OPEN_LOOP_ARRIVALS = ("constant", "poisson")


@dataclass(frozen=True)
class CapacityRequest:
    """What to search, as given on the command line."""

    scenario: Path
    slo_file: Path | None = None
    by: str = "users"
    arrival: str = "poisson"
    start: int = 10
    maximum: int = 10_000
    factor: float = 2.0
    resolution: float = 0.1
    duration: str = "20s"
    target: str | None = None
    workers: str | None = None
    think_time: str | None = None
    out: Path | None = None
    #: Replace an earlier search's files in `out` (refused otherwise).
    overwrite: bool = False


@dataclass(frozen=True)
class CapacityResult:
    """The answer (None: even the first step breached), why the search ended, and where it wrote."""

    record: dict[str, Any]
    out_dir: Path
    page: Path
    #: True when the search stopped early (saturated client, a partial step, Ctrl-C).
    inconclusive: bool

    @property
    def answer(self) -> int | None:
        answer: int | None = self.record["answer"]
        return answer

    @property
    def line(self) -> str:
        return str(self.record["line"])


def _no_status(index: int, load: int) -> AbstractContextManager[object]:
    return nullcontext()


def search_capacity(
    request: CapacityRequest,
    on_step: Callable[[dict[str, Any], str, str], None] = lambda record, metric, by: None,
    measuring: Callable[[int, int], AbstractContextManager[object]] = _no_status,
) -> CapacityResult:
    """Search, writing each step's bundle and log, capacity.json and the capacity page to the
    output directory. `on_step(record, metric, by)` hears each step's verdict; `measuring(index,
    load)` is entered while a step runs. Ctrl-C ends the search with the best load so far."""
    plan = plan_run(request.scenario, None, request.slo_file)
    config, spec = plan.config, plan.spec
    _validate(request, spec)
    out_dir = steps_dir(
        request.out, request.overwrite, is_capacity_entry, "an earlier capacity search", f"{config.scenario}-capacity"
    )
    search = CapacitySearch(request.start, request.maximum, request.factor, request.resolution)
    metric = next((o.name for o in spec.objectives if o.name in LATENCY_METRICS), "ttft")
    base = StepRun(
        request.scenario, request.duration, None, request.slo_file, request.target, request.workers, request.think_time
    ).command()
    steps: list[dict[str, Any]] = []
    reason_override = None
    try:
        while (load := search.next_load()) is not None:
            flags = load_flags(request.by, load, config.load.spawn_rate, request.arrival)
            index = len(steps) + 1
            with measuring(index, load):
                record = _measure([*base, *flags], load, out_dir, index, spec, metric)
            steps.append(record)
            on_step(record, metric, request.by)
            if record.get("partial"):
                reason_override = f"step {len(steps)} ended early: {record['partial']}"
                break
            search.record(Step(load, record["passed"], record["saturated"]))
    except KeyboardInterrupt:
        reason_override = "interrupted"
    answer = search.best_pass if reason_override else search.answer
    reason = reason_override or search.reason
    result = {
        "scenario": config.scenario,
        "slo": str(request.slo_file or request.scenario),
        "by": request.by,
        "metric": metric,
        "answer": answer,
        "reason": reason,
        "line": answer_line(answer, reason, request.by),
        "steps": steps,
        "search": {
            "start": request.start,
            "max": request.maximum,
            "factor": request.factor,
            "resolution": request.resolution,
            "duration": request.duration,
        },
    }
    (out_dir / "capacity.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    from rtbench.report.capacity import render_capacity

    page = render_capacity(result, out_dir)
    return CapacityResult(result, out_dir, page, bool(reason_override) or "saturated" in reason)


def answer_line(answer: int | None, reason: str, by: str) -> str:
    """ "capacity: 24 sessions meet every SLO (...)", or that none was found."""
    if answer is None:
        return f"capacity: none found ({reason})"
    what = "sessions" if by == "users" else "turns/s (open loop)"
    return f"capacity: {answer:,} {what} meet every SLO ({reason})"


def _validate(request: CapacityRequest, spec: SloSpec) -> None:
    if not spec.rules:
        raise ConfigError("capacity needs SLOs: give --slo FILE or an [slo] table in the scenario")
    if request.start > request.maximum:
        raise ConfigError(f"--start {request.start} is above --max {request.maximum}")
    if request.by not in SEARCH_BY:
        raise ConfigError(f"--by: expected users or rate, got {request.by!r}")
    if request.arrival not in OPEN_LOOP_ARRIVALS:
        raise ConfigError(f"--arrival: expected constant or poisson, got {request.arrival!r}")
    try:
        parse_duration(request.duration)
    except ValueError as exc:
        raise ConfigError(f"--duration: expected {exc}, got {request.duration!r}") from None


def _measure(cmd: list[str], load: int, out_dir: Path, index: int, spec: SloSpec, metric: str) -> dict[str, Any]:
    """Run one step as its own `rtbench run` process and judge its steady state."""
    bundle, summary = run_step(cmd, load, out_dir, index)
    verdict = evaluate(spec, summary)
    figures = summary["metrics"].get(metric)
    goodput = summary.get("goodput")
    return {
        "load": load,
        "passed": verdict.passed,
        "saturated": bool(summary["self_check"]["saturated"]),
        "p95": figures["p95"] if figures else None,
        "p99": figures["p99"] if figures else None,
        "goodput": goodput["per_s"] if goodput else None,
        "breached": [
            f"{r.name} {r.expression} ({'no data' if r.measured is None else f'measured {r.measured:g} {r.unit}'})"
            for r in verdict.breached
        ],
        "partial": summary.get("partial_reason") if summary.get("partial") else None,
        "bundle": bundle.name,
    }
