"""`rtbench capacity`: the largest number of sessions that still meets every SLO."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer

from rtbench.cli.console import console, err_console, escape, friendly_errors
from rtbench.workflow import CapacityRequest, find_scenario, search_capacity

__all__ = ["app"]

app = typer.Typer()

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
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an earlier search's steps and result in --out (those files only)."),
    ] = False,
) -> None:
    request = CapacityRequest(
        find_scenario(scenario),
        slo,
        by,
        arrival,
        start,
        maximum,
        factor,
        resolution,
        duration,
        target,
        workers,
        think_time,
        out,
        overwrite,
    )
    result = search_capacity(request, on_step=_print_step, measuring=_measuring)
    console.print(f"[bold]{escape(result.line)}[/]", highlight=False)
    console.print(f"report: {escape(str(result.page))}", highlight=False)
    if result.inconclusive:
        raise typer.Exit(EXIT_INCONCLUSIVE)
    raise typer.Exit(EXIT_PASS if result.answer is not None else EXIT_NONE)


def _measuring(index: int, load: int) -> AbstractContextManager[object]:
    return console.status(f"step {index}: load {load:,}")


def _print_step(record: dict[str, Any], metric: str, by: str) -> None:
    verdict = "[green]pass[/]" if record["passed"] else "[red]FAIL[/]"
    p95 = "-" if record["p95"] is None else f"{record['p95']:.1f} ms"
    extra = " [yellow](client saturated)[/]" if record["saturated"] else ""
    unit = "sessions" if by == "users" else "turns/s"
    console.print(f"{record['load']:>8,} {unit}: {verdict}  {metric} p95 {p95}{extra}", highlight=False)
    for line in record["breached"]:
        err_console.print(f"           breached: {escape(line)}", highlight=False)
