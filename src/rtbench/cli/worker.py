"""`rtbench worker`: a Locust worker that joins an `rtbench master` on this or another machine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.console import err_console, escape, friendly_errors
from rtbench.errors import ConfigError
from rtbench.scenario import parse_host_port

__all__ = ["app"]

app = typer.Typer()


@app.command(
    help="Join an `rtbench master` as a Locust worker: it sends the scenario; this process runs its"
    " share of the users and ships exact histograms every second until the master ends the run."
)
@friendly_errors
def worker(
    master: Annotated[str, typer.Option(help="The master's HOST:PORT (see `rtbench master --bind`).")],
    hlog_dir: Annotated[
        Path | None,
        typer.Option(
            help="Also keep this worker's own intervals here, one .hlog per metric (to check the merge offline).",
            file_okay=False,
        ),
    ] = None,
) -> None:
    try:
        host, port = parse_host_port(master)
    except ValueError as exc:
        raise ConfigError(f"--master: expected {exc}, got {master!r}") from None
    err_console.print(f"worker: joining master {escape(host)}:{port}", highlight=False)
    from rtbench.load.distributed.worker import run_worker  # imports locust, which monkey-patches the stdlib

    code = run_worker(host, port, hlog_dir)
    err_console.print("worker: the master ended the run" if code == 0 else "worker: stopped with an error")
    raise typer.Exit(code)
