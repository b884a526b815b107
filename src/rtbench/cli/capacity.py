"""`rtbench capacity`: the largest number of sessions that still meets every SLO."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from rtbench.capacity import CapacitySearch, Step
from rtbench.cli.console import console, err_console, escape, friendly_errors
from rtbench.cli.run import resolve_scenario
from rtbench.errors import ConfigError
from rtbench.scenario import load_scenario, parse_duration
from rtbench.slo.evaluate import evaluate
from rtbench.slo.sources import load_slo_file
from rtbench.slo.spec import SloSpec

__all__ = ["app"]

app = typer.Typer()

RAMP_TARGET_S = 5.0
LATENCY_METRICS = ("ttft", "e2e", "itl", "tpot", "connect")
EXIT_PASS, EXIT_NONE, EXIT_INCONCLUSIVE = 0, 1, 3


@app.command(
    help="Search for the largest number of sessions (or, with --by rate, the largest open-loop arrival"
    " rate) that meets every SLO: step up, then bisect, each step a full run judged on its steady state."
    " Writes capacity.json, knee.png and capacity.html."
    " Exit codes: 0 found; 1 even the first step breached; 3 stopped early (client saturated, interrupted)."
)
@friendly_errors
def capacity(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario TOML file (default scenarios/chat.toml).")] = None,
    slo: Annotated[Path | None, typer.Option(help="SLO TOML file (default: the scenario's \\[slo]).")] = None,
    by: Annotated[
        str,
        typer.Option(
            help="What to search: users (sessions, closed loop) or rate (turns/s, open loop over the scenario's users)."
        ),
    ] = "users",
    arrival: Annotated[str, typer.Option(help="With --by rate: constant or poisson arrivals.")] = "poisson",
    start: Annotated[int, typer.Option(help="Load of the first step (sessions, or turns/s).", min=1)] = 10,
    maximum: Annotated[int, typer.Option("--max", help="Never search above this load.", min=1)] = 10_000,
    factor: Annotated[float, typer.Option(help="Step-up factor before the first breach.", min=1.01)] = 2.0,
    resolution: Annotated[
        float, typer.Option(help="Stop bisecting when pass and fail are this fraction apart.", min=0.001)
    ] = 0.1,
    duration: Annotated[str, typer.Option(help="Steady state of each step.")] = "20s",
    target: Annotated[str | None, typer.Option(help="Target URL (overrides the scenario).")] = None,
    workers: Annotated[str | None, typer.Option(help="Load processes for each step: N or auto.")] = None,
    think_time: Annotated[str | None, typer.Option(help="Pause between turns, e.g. 2s or 1s..3s.")] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for the steps' bundles and the result.")] = None,
) -> None:
    scenario_path = resolve_scenario(scenario)
    config = load_scenario(scenario_path)
    spec = load_slo_file(slo) if slo is not None else _scenario_spec(config.slo, scenario_path)
    if not spec.rules:
        raise ConfigError("capacity needs SLOs: give --slo FILE or an [slo] table in the scenario")
    if start > maximum:
        raise ConfigError(f"--start {start} is above --max {maximum}")
    if by not in ("users", "rate"):
        raise ConfigError(f"--by: expected users or rate, got {by!r}")
    if arrival not in ("constant", "poisson"):
        raise ConfigError(f"--arrival: expected constant or poisson, got {arrival!r}")
    parse_duration(duration)
    out_dir = out or Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-{config.scenario}-capacity"
    out_dir.mkdir(parents=True, exist_ok=True)
    search = CapacitySearch(start, maximum, factor, resolution)
    metric = next((o.name for o in spec.objectives if o.name in LATENCY_METRICS), "ttft")
    base = [sys.executable, "-m", "rtbench.cli", "run", str(scenario_path), "--duration", duration]
    for flag, value in (("--slo", slo), ("--target", target), ("--workers", workers), ("--think-time", think_time)):
        if value is not None:
            base += [flag, str(value)]
    steps: list[dict[str, Any]] = []
    reason_override = None
    try:
        while (load := search.next_load()) is not None:
            if by == "users":
                flags = ["--users", str(load), "--spawn-rate", f"{max(config.spawn_rate, load / RAMP_TARGET_S):g}"]
            else:
                flags = ["--arrival", arrival, "--rate", str(load)]
            record = _measure([*base, *flags], load, out_dir, len(steps) + 1, spec, metric)
            steps.append(record)
            _print_step(record, metric, by)
            if record.get("partial"):
                reason_override = f"step {len(steps)} ended early: {record['partial']}"
                break
            search.record(Step(load, record["passed"], record["saturated"]))
    except KeyboardInterrupt:
        reason_override = "interrupted"
    answer = search.best_pass if reason_override else search.answer
    reason = reason_override or search.reason
    line = _answer_line(answer, reason, by)
    result = {
        "scenario": config.scenario,
        "slo": str(slo or scenario_path),
        "by": by,
        "metric": metric,
        "answer": answer,
        "reason": reason,
        "line": line,
        "steps": steps,
        "search": {"start": start, "max": maximum, "factor": factor, "resolution": resolution, "duration": duration},
    }
    (out_dir / "capacity.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    from rtbench.report.capacity import render_capacity

    page = render_capacity(result, out_dir)
    console.print(f"[bold]{escape(line)}[/]", highlight=False)
    console.print(f"report: {escape(str(page))}", highlight=False)
    if reason_override or "saturated" in reason:
        raise typer.Exit(EXIT_INCONCLUSIVE)
    raise typer.Exit(EXIT_PASS if answer is not None else EXIT_NONE)


def _scenario_spec(table: dict[str, Any], path: Path) -> SloSpec:
    from rtbench.slo.sources import spec_from_scenario_table

    return spec_from_scenario_table(table, str(path))


def _measure(cmd: list[str], load: int, out_dir: Path, index: int, spec: SloSpec, metric: str) -> dict[str, Any]:
    """Run one step as its own `rtbench run` process and judge its steady state."""
    bundle = out_dir / f"step-{index:02d}-{load}"
    cmd = [*cmd, "--out", str(bundle)]
    with console.status(f"step {index}: load {load:,}"), open(out_dir / f"step-{index:02d}.log", "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    summary_file = bundle / "summary.json"
    if not summary_file.exists():
        raise ConfigError(f"step {index} (load {load}) wrote no bundle (exit {proc.returncode}); see {log.name}")
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    verdict = evaluate(spec, summary)
    figures = summary["metrics"].get(metric) or {}
    return {
        "load": load,
        "passed": verdict.passed,
        "saturated": bool(summary["self_check"]["saturated"]),
        "p95": figures.get("p95"),
        "p99": figures.get("p99"),
        "goodput": (summary.get("goodput") or {}).get("per_s"),
        "breached": [
            f"{r.name} {r.expression} ({'no data' if r.measured is None else f'measured {r.measured:g} {r.unit}'})"
            for r in verdict.breached
        ],
        "partial": summary.get("partial_reason") if summary.get("partial") else None,
        "bundle": bundle.name,
    }


def _print_step(record: dict[str, Any], metric: str, by: str) -> None:
    verdict = "[green]pass[/]" if record["passed"] else "[red]FAIL[/]"
    p95 = "-" if record["p95"] is None else f"{record['p95']:.1f} ms"
    extra = " [yellow](client saturated)[/]" if record["saturated"] else ""
    unit = "sessions" if by == "users" else "turns/s"
    console.print(f"{record['load']:>8,} {unit}: {verdict}  {metric} p95 {p95}{extra}", highlight=False)
    for line in record["breached"]:
        err_console.print(f"           breached: {escape(line)}", highlight=False)


def _answer_line(answer: int | None, reason: str, by: str) -> str:
    if answer is None:
        return f"capacity: none found ({reason})"
    what = "sessions" if by == "users" else "turns/s (open loop)"
    return f"capacity: {answer:,} {what} meet every SLO ({reason})"
