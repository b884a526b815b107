"""`rtbench report BUNDLE`: render a result bundle's HTML report and PNG charts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtbench.bundle.paths import SUMMARY_FILE
from rtbench.cli.console import console, err_console, escape, friendly_errors

__all__ = ["app"]

app = typer.Typer()


@app.command(
    help="Render BUNDLE/report.html (self-contained, images embedded) and BUNDLE/report/*.png: "
    "the SLO verdict, run config, phases, latency, throughput, self-check and target figures."
)
@friendly_errors
def report(
    bundle: Annotated[Path, typer.Argument(help="Result bundle directory.")],
    baseline: Annotated[
        Path | None, typer.Option(help="Baseline bundle: overlaid percentiles and a delta table.")
    ] = None,
    slo: Annotated[
        Path | None, typer.Option(help="TOML file with an \\[slo] table (default: the bundle's scenario SLOs).")
    ] = None,
) -> None:
    from rtbench.report import render_report  # pandas and matplotlib load only for this command

    path = render_report(bundle, baseline_dir=baseline, slo_spec=slo)
    if not (bundle / SUMMARY_FILE).is_file():
        err_console.print(
            f"[bold yellow]partial:[/] no {SUMMARY_FILE} (the run was killed): the report is rebuilt from its "
            "interval logs and time series",
            highlight=False,
            soft_wrap=True,
        )
    console.print(escape(str(path)), highlight=False, soft_wrap=True)
