"""`rtbench serve`: run the bundled reference streaming server in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    help="Run the bundled reference streaming server (WebSocket, OpenAI SSE, Realtime) until Ctrl-C. "
    "Options not listed here are passed to the server; see `python -m reference_server --help`.",
)
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8765,
    procs: Annotated[int, typer.Option(help="Server processes sharing the port (SO_REUSEPORT).", min=1)] = 1,
    ttft_ms: Annotated[float | None, typer.Option(help="Fixed time to first token, ms.", min=0)] = None,
    itl_ms: Annotated[float | None, typer.Option(help="Fixed inter-token latency, ms.", min=0)] = None,
    tokens: Annotated[int | None, typer.Option(help="Tokens per response.", min=1)] = None,
    config: Annotated[Path | None, typer.Option(help="Latency-model TOML file.")] = None,
    token: Annotated[str | None, typer.Option(help="Require this bearer token (or set RTREF_TOKEN).")] = None,
) -> None:
    from reference_server.cli import main as server_main

    argv = ["--host", host, "--port", str(port), "--procs", str(procs)]
    for flag, value in (
        ("--ttft-ms", ttft_ms),
        ("--itl-ms", itl_ms),
        ("--tokens", tokens),
        ("--config", config),
        ("--token", token),
    ):
        if value is not None:
            argv += [flag, str(value)]
    raise typer.Exit(server_main(argv + list(ctx.args)))
