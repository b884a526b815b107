"""`rtbench sweep`: one run a step of load, then throughput against latency, and the knee."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rtbench.cli.console import console, escape, friendly_errors
from rtbench.report.sweep import SWEEP_HEADERS, sweep_rows
from rtbench.workflow import find_scenario
from rtbench.workflow.sweep import SweepRequest, sweep

__all__ = ["app"]

app = typer.Typer()

EXIT_DONE, EXIT_INCONCLUSIVE = 0, 3


@app.command(
    "sweep",
    help="Run the scenario once a step of load (--users 1,2,4,8 or --rate 1,2,4), each step a full run"
    " with its own bundle under --out, then print a table of throughput (requests/s, output tokens/s)"
    " against TTFT and ITL p50/p95 and goodput, and mark the knee: the last step before throughput"
    " grows by less than 10% while TTFT grows. Writes sweep.json, sweep.html and sweep.png."
    " Ctrl-C keeps the steps done so far. Exit codes: 0 every step ran; 3 stopped early.",
)
@friendly_errors
def sweep_command(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario TOML file (default scenarios/chat.toml).")] = None,
    users: Annotated[
        str | None, typer.Option(help="Users (sessions, closed loop) of each step, comma-separated: 1,2,4,8.")
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(help="Open-loop arrival rates (turns/s over the scenario's users) of each step: 1,2,4."),
    ] = None,
    arrival: Annotated[str, typer.Option(help="With --rate: constant or poisson arrivals.")] = "poisson",
    duration: Annotated[
        str | None,
        typer.Option(
            help="Steady state of each step, e.g. 20s (default: the scenario's); with --requests, a safety limit."
        ),
    ] = None,
    requests: Annotated[
        int | None,
        typer.Option(help="Each step a fixed amount of work: N turns, every phase reported (instead of a duration)."),
    ] = None,
    slo: Annotated[
        Path | None,
        typer.Option(
            help="SLO TOML file for every step (default: the scenario's \\[slo]); its per-turn limits give goodput."
        ),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Target URL (overrides the scenario).")] = None,
    workers: Annotated[str | None, typer.Option(help="Load processes for each step: N or auto.")] = None,
    think_time: Annotated[str | None, typer.Option(help="Pause between turns, e.g. 2s or 1s..3s.")] = None,
    out: Annotated[Path | None, typer.Option(help="Directory for the steps' bundles, the table and the chart.")] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="Replace an earlier sweep's steps and result in --out (those files only)."),
    ] = False,
) -> None:
    request = SweepRequest(
        find_scenario(scenario),
        users,
        rate,
        arrival,
        duration,
        requests,
        slo,
        target,
        workers,
        think_time,
        out,
        overwrite,
    )
    result = sweep(request, on_step=_print_step, measuring=_measuring)
    grid = Table(title="sweep", title_justify="left")
    for header, numeric in zip(SWEEP_HEADERS, (True,) * 9 + (False,), strict=True):
        grid.add_column(header, justify="right" if numeric else "left")
    for row in sweep_rows(result.record["steps"], result.knee):
        grid.add_row(*(escape(cell) for cell in row))
    console.print(grid)
    console.print(f"[bold]{escape(result.line)}[/]", highlight=False)
    queue_from = result.record.get("server_queue_from")
    if queue_from is not None:
        unit = "users" if result.record["by"] == "users" else "turns/s"
        console.print(f"server queue: requests waited for a slot from {queue_from:g} {unit} on", highlight=False)
    console.print(f"report: {escape(str(result.page))}", highlight=False)
    raise typer.Exit(EXIT_INCONCLUSIVE if result.inconclusive else EXIT_DONE)


def _measuring(index: int, load: float) -> AbstractContextManager[object]:
    return console.status(f"step {index}: load {load:g}")


def _print_step(record: dict[str, Any], by: str) -> None:
    unit = "users" if by == "users" else "turns/s"
    rps = record["requests_per_s"]
    ttft = record["ttft_p50"]
    console.print(
        f"{record['load']:>8g} {unit}: {'-' if rps is None else f'{rps:.2f}'} requests/s,"
        f" TTFT p50 {'-' if ttft is None else f'{ttft:.1f} ms'}",
        highlight=False,
    )
