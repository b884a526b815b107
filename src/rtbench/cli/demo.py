"""`rtbench demo`: the bundled server plus the default scenario, ending in a bundle, a verdict and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from rtbench.cli.console import console, friendly_errors
from rtbench.cli.check import gate
from rtbench.cli.run import execute, resolve_scenario, with_slo
from rtbench.local_server import LocalServer
from rtbench.scenario import load_scenario, parse_duration

__all__ = ["app", "DEMO_SERVER_FLAGS"]

app = typer.Typer()

DEMO_SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")


@app.command(help="Start the reference server (TTFT 50 ms, ITL 10 ms), run scenarios/chat.toml against it, "
             "stop it, then print a summary, the SLO verdict and the paths of the bundle and its report.html.")
@friendly_errors
def demo(
    duration: Annotated[str, typer.Option(help="Steady-state length.")] = "20s",
    out: Annotated[Optional[Path], typer.Option(help="Bundle directory (default reports/<time>-chat/).")] = None,
) -> None:
    config, spec = with_slo(load_scenario(resolve_scenario(None)), None)
    with LocalServer(DEMO_SERVER_FLAGS) as server:
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
