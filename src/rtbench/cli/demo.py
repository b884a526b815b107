"""`rtbench demo`: the bundled server plus the default scenario, ending in a bundle, a verdict and a report."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.console import console, friendly_errors
from rtbench.cli.render import print_check, print_run, render_report_of, run_hooks
from rtbench.netem import NetemSpec, Netns
from rtbench.overrides import RunOverrides
from rtbench.workflow import gate, plan_run, run_benchmark, served_target

__all__ = ["app", "DEMO_SERVER_FLAGS"]

app = typer.Typer()

DEMO_SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
NETEM_HELP = (
    "Put the server in a network namespace of rtbench's own, behind a veth pair with netem faults, "
    "e.g. 'delay=20ms,jitter=0ms,loss=0%' (direction=server|client|both; server, the default, delays "
    "what the server sends). Needs root and iproute2."
)


@app.command(
    help="Start the reference server (TTFT 50 ms, ITL 10 ms), run scenarios/chat.toml against it, "
    "stop it, then print a summary, the SLO verdict and the paths of the bundle and its report.html."
)
@friendly_errors
def demo(
    duration: Annotated[str, typer.Option(help="Steady-state length.")] = "20s",
    out: Annotated[Path | None, typer.Option(help="Bundle directory (default reports/<time>-chat/).")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the bundle of an earlier run in --out (its files only).")
    ] = False,
    netem: Annotated[str | None, typer.Option(help=NETEM_HELP)] = None,
) -> None:
    plan = plan_run(None, RunOverrides(duration=duration))
    with ExitStack() as stack:
        where: dict[str, str] = {}
        if netem is not None:
            ns = stack.enter_context(Netns(NetemSpec.parse(netem)))
            where = {"host": ns.server_addr, "netns": ns.name}
            console.print(
                f"netem: {ns.spec} via {ns.mechanism}, server at {ns.server_addr} in namespace {ns.name}",
                highlight=False,
            )
        served = stack.enter_context(served_target(plan.config, DEMO_SERVER_FLAGS, scrape_metrics=True, **where))
        server = served.server
        console.print(f"reference server: {server.ws_url} (pid {server.pid}), TTFT 50 ms, ITL 10 ms", highlight=False)
        outcome = run_benchmark(served.config, out, run_hooks(), overwrite=overwrite)
        print_run(outcome)
        render_report_of(outcome, None, plan.spec)
    code = 3 if outcome.partial else 0
    if plan.spec.rules:
        result = gate(outcome.bundle_dir, outcome.summary, plan.spec, None)
        print_check(result)
        code = result.outcome.exit_code
    raise typer.Exit(code)
