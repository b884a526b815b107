"""`rtbench demo`: the bundled server plus the default scenario, ending in a bundle, a verdict and a report."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.check import gate
from rtbench.cli.console import console, friendly_errors
from rtbench.cli.run import execute, resolve_scenario, with_slo
from rtbench.local_server import LocalServer
from rtbench.netem import NetemSpec, Netns
from rtbench.scenario import load_scenario, parse_duration

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
    netem: Annotated[str | None, typer.Option(help=NETEM_HELP)] = None,
) -> None:
    config, spec = with_slo(load_scenario(resolve_scenario(None)), None)
    with ExitStack() as stack:
        server_at: dict[str, str] = {}
        if netem is not None:
            ns = stack.enter_context(Netns(NetemSpec.parse(netem)))
            server_at = {"host": ns.server_addr, "netns": ns.name}
            console.print(
                f"netem: {ns.spec} via {ns.mechanism}, server at {ns.server_addr} in namespace {ns.name}",
                highlight=False,
            )
        server = stack.enter_context(LocalServer(DEMO_SERVER_FLAGS, **server_at))
        console.print(f"reference server: {server.ws_url} (pid {server.pid}), TTFT 50 ms, ITL 10 ms", highlight=False)
        config = config.replace(
            target=server.ws_url,
            target_pid=server.pid,
            target_metrics=server.base_url + "/metrics",
            duration=parse_duration(duration),
        )
        summary, bundle, code = execute(config, out, spec=spec)
    if spec.rules:
        code = gate(bundle, summary, spec, None)
    raise typer.Exit(code)
