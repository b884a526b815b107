"""`rtbench serve`: run the bundled reference streaming server in the foreground.

Every option is the server's own (its flags come from its config dataclasses), so this command
declares none: it hands its arguments, `--help` included, to the server's parser."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer()


@app.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    help="Run the bundled reference streaming server (WebSocket, OpenAI SSE, Realtime) until Ctrl-C. "
    "Every option is the server's: `rtbench serve --help` lists them.",
)
def serve(ctx: typer.Context) -> None:
    from reference_server.cli import main as server_main

    raise typer.Exit(server_main(list(ctx.args), prog="rtbench serve"))
