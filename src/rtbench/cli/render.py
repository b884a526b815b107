"""Renderings shared by the commands: a run's outcome, a gate's verdict, a comparison table.

With `console` and `display`, the only cli modules a command may import (an import-linter
contract in pyproject.toml keeps it so)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from rich.table import Table

from rtbench.bundle.summary_types import Summary
from rtbench.bundle.throughput import throughput_line
from rtbench.cli.console import console, err_console, escape
from rtbench.cli.display import LiveDisplay, summary_table
from rtbench.errors import RtbenchError
from rtbench.metrics.names import error_frame_code
from rtbench.slo.compare import FEW_SAMPLES, IMPROVEMENT, NO_DATA, REGRESSION, Comparison
from rtbench.slo.evaluate import Verdict
from rtbench.slo.tables import COMPARISON_COLUMNS, SLO_COLUMNS, comparison_cells, slo_cells
from rtbench.workflow import CheckResult, LiveFeed, RunHooks, RunOutcome, render_run_report

__all__ = [
    "FLOOR_HELP",
    "MAX_REGRESSION_HELP",
    "comparison_table",
    "print_check",
    "print_run",
    "print_warnings",
    "render_report_of",
    "connect_failure_line",
    "failure_line",
    "run_hooks",
    "slo_table",
    "warn",
]

MAX_REGRESSION_HELP = (
    "Relative tolerance before a percentile counts as a regression: 10% for every metric, or "
    "metric=5% for one (repeatable; metric=off skips it). Default 10%, or \\[slo.regression]."
)
FLOOR_HELP = "Absolute floor: a slowdown no larger than this never counts (default 1ms, or \\[slo.regression])."
_STYLES = {REGRESSION: "red", IMPROVEMENT: "green", NO_DATA: "yellow", FEW_SAMPLES: "yellow"}


def warn(message: str) -> None:
    """`warning: <message>` on stderr."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def _note(message: str) -> None:
    console.print(message, highlight=False)


def _live() -> AbstractContextManager[LiveFeed]:
    return LiveDisplay(console)


def run_hooks() -> RunHooks:
    """Preflight warnings on stderr, notes on stdout, the live display during the run."""
    return RunHooks(on_warning=warn, on_note=_note, live=_live)


def print_run(outcome: RunOutcome) -> None:
    """Throughput first, then the summary table, delivery, failures, warnings and the bundle's path."""
    summary = outcome.summary
    throughput = summary.get("throughput")
    if throughput is not None:
        covers = "every phase" if summary.get("include_ramp") else "steady phase"
        line = f"[bold]throughput[/] ({covers}): {escape(throughput_line(throughput))}"
        console.print(line, highlight=False, soft_wrap=True)
    console.print(summary_table(summary))
    delivery = summary["delivery"]
    console.print(
        f"turns: {delivery['turns_completed']:,} completed of {delivery['turns_sent']:,} sent,"
        f" delivery {_percent(delivery['delivery_ratio'])}; sessions peak {summary['sessions']['peak']:,}",
        highlight=False,
    )
    failures = failure_line(summary)
    if failures:
        err_console.print(f"[yellow]failed turns:[/] {escape(failures)}", highlight=False)
    connect_failures = connect_failure_line(summary)
    if connect_failures:
        err_console.print(f"[yellow]failed connects:[/] {escape(connect_failures)}", highlight=False)
    for warning in summary.get("warnings", []):
        warn(warning)
    console.print(f"bundle: {escape(str(outcome.bundle_dir))}", highlight=False)


def render_report_of(outcome: RunOutcome, baseline: Any = None, spec: Any = None) -> None:
    """Write report.html; a report that cannot be drawn must not cost the run its bundle. A
    bundle whose files could not be written (a full disk) gets none: its partial line says why."""
    if outcome.bundle_failure is not None:
        err_console.print(f"[bold red]partial run:[/] {escape(str(outcome.partial_reason))}", highlight=False)
        return
    try:
        with console.status("rendering the report"):
            path = render_run_report(outcome.bundle_dir, baseline, spec)
    except RtbenchError as exc:
        warn(f"no report: {exc}")
    else:
        console.print(f"report: {escape(str(path))}", highlight=False)
    if outcome.partial:
        err_console.print(f"[bold red]partial run:[/] {escape(str(outcome.partial_reason))}", highlight=False)


def failure_line(summary: Summary, most: int = 5) -> str:
    """ "timeout 3, error 12 (http_404 12)": failed turns by kind, and the commonest error codes."""
    failed = {kind: n for kind, n in summary["delivery"].get("failed", {}).items() if n}
    if not failed:
        return ""
    codes = sorted(
        ((code, n) for name, n in summary.get("counters", {}).items() if (code := error_frame_code(name)) is not None),
        key=lambda item: -item[1],
    )[:most]
    line = ", ".join(f"{kind} {n:,}" for kind, n in failed.items())
    reasons = list(summary["delivery"].get("failed_reasons", {}).items())[:most]
    if reasons:
        line += f" (reasons: {', '.join(f'{reason} {n:,}' for reason, n in reasons)})"
    return line + (f" (error codes: {', '.join(f'{code} {n:,}' for code, n in codes)})" if codes else "")


def connect_failure_line(summary: Summary) -> str:
    """ "timeout 2,986, refused 3": failed connection attempts by kind."""
    by_kind = summary["delivery"].get("connect_failed_by_kind", {})
    return ", ".join(f"{kind} {n:,}" for kind, n in sorted(by_kind.items(), key=lambda item: -item[1]))


def _percent(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio * 100:.3f}%"


def slo_table(verdict: Verdict) -> Table:
    """SLO results: held rules in green, breached ones in red."""
    title = "SLOs" + (f" ({verdict.source})" if verdict.source else "")
    table = Table(title=escape(title), title_justify="left")
    for column in SLO_COLUMNS:
        table.add_column(column, justify="left" if column == "SLO" else "right", no_wrap=column != "margin")
    for result in verdict.results:
        table.add_row(*(escape(c) for c in slo_cells(result)), style="green" if result.passed else "red")
    return table


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


def print_warnings(lines: Sequence[str]) -> None:
    for line in lines:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def print_check(result: CheckResult) -> None:
    """The gate: comparability warnings, the SLO table, the delta table, warnings, the headline."""
    print_warnings(result.comparability)
    verdict, outcome = result.verdict, result.outcome
    if verdict is not None:
        console.print(slo_table(verdict))
        for rule in verdict.results:
            if rule.detail:
                console.print(
                    f"[yellow]{escape(rule.label)}:[/] {escape(rule.detail)}", highlight=False, soft_wrap=True
                )
    if result.comparisons is not None:
        console.print(comparison_table(result.comparisons, "latency in ms against the baseline"))
    print_warnings((*outcome.warnings, *(verdict.warnings if verdict is not None else ())))
    style = "bold green" if outcome.passed else "bold red"
    console.print(f"[{style}]{escape(outcome.headline)}[/]", highlight=False, soft_wrap=True)
