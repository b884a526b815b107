"""`rtbench compare A B`: the latency percentiles of bundle B against bundle A (the baseline).

Exit codes: 0, or 2 with `--fail-on-regression` when a percentile regressed; 3 for invalid input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rtbench.bundle.summary import read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.cli.console import console, err_console, escape, friendly_errors
from rtbench.slo.compare import (
    FEW_SAMPLES,
    IMPROVEMENT,
    NO_DATA,
    REGRESSION,
    Comparison,
    comparability_warnings,
    compare,
)
from rtbench.slo.gate import EXIT_REGRESSION
from rtbench.slo.sources import load_slo_file, spec_from_summary
from rtbench.slo.tables import COMPARISON_COLUMNS, comparison_cells
from rtbench.slo.tolerances import from_options

__all__ = ["app", "comparison_table", "print_comparability", "MAX_REGRESSION_HELP", "FLOOR_HELP"]

app = typer.Typer()

_STYLES = {REGRESSION: "red", IMPROVEMENT: "green", NO_DATA: "yellow", FEW_SAMPLES: "yellow"}
MAX_REGRESSION_HELP = (
    "Relative tolerance before a percentile counts as a regression: 10% for every metric, or "
    "metric=5% for one (repeatable; metric=off skips it). Default 10%, or \\[slo.regression]."
)
FLOOR_HELP = "Absolute floor: a slowdown no larger than this never counts (default 1ms, or \\[slo.regression])."


def comparison_table(
    comparisons: Sequence[Comparison], title: str, baseline_header: str = "baseline", current_header: str = "current"
) -> Table:
    """The delta table (ms): regressions in red, improvements in green, not judged in yellow."""
    table = Table(title=title, title_justify="left")
    headers = {"baseline": baseline_header, "current": current_header}
    for column in COMPARISON_COLUMNS:
        table.add_column(
            escape(headers.get(column, column)), justify="left" if column in ("metric", "percentile") else "right"
        )
    for comparison in comparisons:
        table.add_row(*(escape(c) for c in comparison_cells(comparison)), style=_STYLES.get(comparison.status))
    return table


def print_comparability(current: Summary, baseline: Summary) -> None:
    for line in comparability_warnings(current, baseline):
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


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
    baseline, current = read_summary(a), read_summary(b)
    spec = load_slo_file(slo) if slo is not None else spec_from_summary(current, b)
    comparisons = compare(current, baseline, from_options(spec.tolerances, max_regression or (), regression_floor))
    print_comparability(current, baseline)
    console.print(comparison_table(comparisons, "latency in ms: B against A", "A", "B"))
    regressions = [c for c in comparisons if c.regressed]
    improvements = sum(1 for c in comparisons if c.status == IMPROVEMENT)
    console.print(
        f"{len(regressions)} regression(s), {improvements} improvement(s) in {len(comparisons)} checks",
        highlight=False,
    )
    raise typer.Exit(EXIT_REGRESSION if fail_on_regression and regressions else 0)
