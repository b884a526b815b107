"""`rtbench check BUNDLE`: the CI gate. SLOs against a bundle, optionally a baseline comparison.

The SLOs come from `--slo FILE` (a TOML file with an `[slo]` table), else from the scenario stored
in the bundle (`summary.json` `config.slo`). With neither SLOs nor `--baseline` there is nothing
to check, and that is an error (exit 3), never a silent pass; a partial bundle, or a run that did
no work, is reported as such (exit 3).

Exit codes (`rtbench.slo.gate`):

- 0  every SLO rule holds and no percentile regressed against the baseline;
- 1  an SLO rule is breached, or has no data (1 wins when there is a regression too), or the run
     was stopped by `rtbench run --abort-on`;
- 2  a percentile regressed against the baseline, with every SLO rule holding;
- 3  invalid input (bad SLO file or option, unreadable bundle), a partial bundle, a run that did
     no work (no session connected, or no turn completed), or, with
     `--strict`, a saturated load generator (`self_check.saturated`; a warning otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.console import friendly_errors
from rtbench.cli.render import FLOOR_HELP, MAX_REGRESSION_HELP, print_check
from rtbench.workflow import check_bundle, write_check_outputs

__all__ = ["app"]

app = typer.Typer()

HELP = (
    "Check a result bundle against its SLOs and, with --baseline, against a baseline bundle. "
    "Exit codes: 0 pass; 1 an SLO breached (or without data, or the run aborted by --abort-on); 2 a regression"
    " against the baseline (1 wins when both); 3 invalid input, a partial bundle, a run that did no work"
    " (no session connected, or no turn completed), or a saturated load generator with --strict."
)


@app.command(help=HELP)
@friendly_errors
def check(
    bundle: Annotated[Path, typer.Argument(help="Result bundle directory (or its summary.json).")],
    slo: Annotated[
        Path | None, typer.Option(help="TOML file with an \\[slo] table (default: the bundle's scenario SLOs).")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="Baseline bundle to compare p50/p95/p99 latencies with.")
    ] = None,
    max_regression: Annotated[list[str] | None, typer.Option(help=MAX_REGRESSION_HELP)] = None,
    regression_floor: Annotated[str | None, typer.Option(help=FLOOR_HELP)] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit 3 when the load generator was saturated (else a warning).")
    ] = False,
    junit: Annotated[
        Path | None, typer.Option(help="Write JUnit XML: a testcase per SLO rule and regression check.")
    ] = None,
    markdown: Annotated[
        Path | None, typer.Option(help="Write a Markdown summary, e.g. to $GITHUB_STEP_SUMMARY.")
    ] = None,
) -> None:
    result = check_bundle(bundle, slo, baseline, max_regression or (), regression_floor, strict)
    print_check(result)
    write_check_outputs(result, junit, markdown)
    raise typer.Exit(result.outcome.exit_code)
