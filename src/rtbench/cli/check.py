"""`rtbench check BUNDLE`: the CI gate. SLOs against a bundle, optionally a baseline comparison.

The SLOs come from `--slo FILE` (a TOML file with an `[slo]` table), else from the scenario stored
in the bundle (`summary.json` `config.slo`). With neither SLOs nor `--baseline` there is nothing
to check, and that is an error (exit 3), never a silent pass.

Exit codes (`rtbench.slo.gate`):

- 0  every SLO rule holds and no percentile regressed against the baseline;
- 1  an SLO rule is breached, or has no data (1 wins when there is a regression too);
- 2  a percentile regressed against the baseline, with every SLO rule holding;
- 3  invalid input (bad SLO file or option, unreadable bundle), a partial bundle, or, with
     `--strict`, a saturated load generator (`self_check.saturated`; a warning otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rtbench.bundle.summary import read_summary
from rtbench.bundle.summary_types import Summary
from rtbench.cli.compare import FLOOR_HELP, MAX_REGRESSION_HELP, comparison_table, print_comparability
from rtbench.cli.console import console, err_console, escape, friendly_errors
from rtbench.errors import ConfigError
from rtbench.slo.compare import Comparison, compare
from rtbench.slo.evaluate import Verdict, evaluate
from rtbench.slo.gate import GateOutcome, decide
from rtbench.slo.junit import junit_xml
from rtbench.slo.markdown import markdown_summary
from rtbench.slo.sources import load_slo_file, spec_from_summary
from rtbench.slo.spec import SloSpec
from rtbench.slo.tables import SLO_COLUMNS, slo_cells
from rtbench.slo.tolerances import Tolerances, from_options

__all__ = ["app", "slo_table", "gate"]

app = typer.Typer()

HELP = (
    "Check a result bundle against its SLOs and, with --baseline, against a baseline bundle. "
    "Exit codes: 0 pass; 1 an SLO breached (or without data); 2 a regression against the baseline "
    "(1 wins when both); 3 invalid input, a partial bundle, or a saturated load generator with --strict."
)


def slo_table(verdict: Verdict) -> Table:
    """SLO results: held rules in green, breached ones in red."""
    title = "SLOs" + (f" ({verdict.source})" if verdict.source else "")
    table = Table(title=escape(title), title_justify="left")
    for column in SLO_COLUMNS:
        table.add_column(column, justify="left" if column == "SLO" else "right", no_wrap=column != "margin")
    for result in verdict.results:
        table.add_row(*(escape(c) for c in slo_cells(result)), style="green" if result.passed else "red")
    return table


def _write(path: Path, text: str, flag: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None


def _compare(summary: Summary, baseline: Path, tolerances: Tolerances) -> list[Comparison]:
    baseline_summary = read_summary(baseline)
    print_comparability(summary, baseline_summary)
    return compare(summary, baseline_summary, tolerances)


def _print(outcome: GateOutcome, verdict: Verdict | None, comparisons: list[Comparison] | None) -> None:
    if verdict is not None:
        console.print(slo_table(verdict))
        for result in verdict.results:
            if result.detail:
                console.print(
                    f"[yellow]{escape(result.label)}:[/] {escape(result.detail)}", highlight=False, soft_wrap=True
                )
    if comparisons is not None:
        console.print(comparison_table(comparisons, "latency in ms against the baseline"))
    for warning in (*outcome.warnings, *(verdict.warnings if verdict is not None else ())):
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    style = "bold green" if outcome.passed else "bold red"
    console.print(f"[{style}]{escape(outcome.headline)}[/]", highlight=False, soft_wrap=True)


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
    summary = read_summary(bundle)
    spec = load_slo_file(slo) if slo is not None else spec_from_summary(summary, bundle)
    if not spec.rules and baseline is None:
        raise ConfigError(
            f"nothing to check: {bundle}'s scenario has no [slo] rules; give --slo FILE or --baseline BUNDLE"
        )
    raise typer.Exit(gate(bundle, summary, spec, baseline, max_regression, regression_floor, strict, junit, markdown))


def gate(
    bundle: Path,
    summary: Summary,
    spec: SloSpec,
    baseline: Path | None,
    max_regression: list[str] | None = None,
    regression_floor: str | None = None,
    strict: bool = False,
    junit: Path | None = None,
    markdown: Path | None = None,
) -> int:
    """Evaluate, compare, print and write the CI outputs; return the exit code."""
    tolerances = from_options(spec.tolerances, max_regression or (), regression_floor)
    if baseline is None and (max_regression or regression_floor):
        raise ConfigError("--max-regression and --regression-floor need --baseline")
    comparisons = _compare(summary, baseline, tolerances) if baseline is not None else None
    verdict = evaluate(spec, summary) if spec.rules else None
    outcome = decide(summary, verdict, comparisons, strict=strict)
    _print(outcome, verdict, comparisons)
    if junit is not None:
        _write(junit, junit_xml(outcome, verdict, comparisons, {"bundle": str(bundle)}), "--junit")
    if markdown is not None:
        text = markdown_summary(outcome, verdict, comparisons, str(bundle), str(baseline or ""))
        _write(markdown, text, "--markdown")
    return outcome.exit_code
