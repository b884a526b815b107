"""The `rtbench` command: one sub-app per command module."""

from __future__ import annotations

from typing import Annotated

import typer

from rtbench import __version__
from rtbench.cli import capacity, check, compare, demo, report, run, serve, sweep, worker

__all__ = ["app"]

app = typer.Typer(
    name="rtbench",
    help="Load testing and latency profiling for realtime AI endpoints (WebSocket, SSE, Realtime).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(serve.app)
app.add_typer(run.app)
app.add_typer(demo.app)
app.add_typer(check.app)
app.add_typer(compare.app)
app.add_typer(report.app)
app.add_typer(worker.app)
app.add_typer(capacity.app)
app.add_typer(sweep.app)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rtbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = None,
) -> None:
    """Load testing and latency profiling for realtime AI endpoints."""
