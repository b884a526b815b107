"""`rtbench compare A B`: the latency percentiles of bundle B against bundle A (the baseline).

Exit codes: 0, or 2 with `--fail-on-regression` when a percentile regressed; 3 for invalid input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rtbench.cli.console import console, friendly_errors
from rtbench.cli.render import FLOOR_HELP, MAX_REGRESSION_HELP, comparison_table, print_warnings
from rtbench.slo.compare import IMPROVEMENT
from rtbench.slo.gate import EXIT_REGRESSION
from rtbench.workflow import compare_bundles

__all__ = ["app"]

app = typer.Typer()


@app.command(
    name="compare",
    help="Compare bundle B's latency percentiles (p50, p95, p99) with bundle A's, A being the baseline. "
    "A regression is B > A * (1 + tolerance) and B - A > floor. Exit 0; with --fail-on-regression, "
    "2 when a percentile regressed; 3 for invalid input.",
)
@friendly_errors
def compare_command(
    a: Annotated[Path, typer.Argument(help="Baseline bundle directory (or its summary.json).")],
    b: Annotated[Path, typer.Argument(help="Bundle to compare with the baseline.")],
    max_regression: Annotated[list[str] | None, typer.Option(help=MAX_REGRESSION_HELP)] = None,
    regression_floor: Annotated[str | None, typer.Option(help=FLOOR_HELP)] = None,
    slo: Annotated[
        Path | None, typer.Option(help="TOML file whose \\[slo.regression] sets tolerances (default: B's scenario).")
    ] = None,
    fail_on_regression: Annotated[bool, typer.Option(help="Exit 2 when a percentile regressed.")] = False,
) -> None:
    result = compare_bundles(a, b, slo, max_regression or (), regression_floor)
    comparisons = result.comparisons
    print_warnings(result.comparability)
    console.print(comparison_table(comparisons, "latency in ms: B against A", "A", "B"))
    regressions = [c for c in comparisons if c.regressed]
    improvements = sum(1 for c in comparisons if c.status == IMPROVEMENT)
    console.print(
        f"{len(regressions)} regression(s), {improvements} improvement(s) in {len(comparisons)} checks",
        highlight=False,
    )
    raise typer.Exit(EXIT_REGRESSION if fail_on_regression and regressions else 0)
