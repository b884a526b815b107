"""The gate as Markdown for a CI step page (e.g. `$GITHUB_STEP_SUMMARY`): verdict, SLOs, regressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rtbench.slo.compare import Comparison
from rtbench.slo.evaluate import Verdict
from rtbench.slo.gate import GateOutcome
from rtbench.slo.tables import COMPARISON_COLUMNS, SLO_COLUMNS, comparison_cells, slo_cells

__all__ = ["markdown_summary", "markdown_table"]

_ICONS = {0: "✅", 1: "❌", 2: "❌", 3: "⚠️"}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "|" + "|".join(" --- " for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_summary(
    outcome: GateOutcome,
    verdict: Verdict | None,
    comparisons: Sequence[Comparison] | None,
    bundle: str = "",
    baseline: str = "",
) -> str:
    """The whole page: a verdict line with the exit code, then the SLO and regression tables."""
    parts = [f"## {_ICONS.get(outcome.exit_code, '')} rtbench check: {outcome.headline}".replace("  ", " ")]
    facts = [f"exit code {outcome.exit_code}"]
    if bundle:
        facts.append(f"bundle `{bundle}`")
    parts.append(" · ".join(facts))
    warnings = (*outcome.warnings, *(verdict.warnings if verdict is not None else ()))
    parts += [f"> **warning:** {w}" for w in warnings]
    if verdict is not None:
        rows = [(*slo_cells(r), "; ".join(filter(None, (r.detail, r.note)))) for r in verdict.results]
        title = "### SLOs" + (f" ({verdict.source})" if verdict.source else "")
        parts += [title, markdown_table((*SLO_COLUMNS, "note"), rows) if rows else "_no SLO rules_"]
    if comparisons is not None:
        title = "### Against the baseline" + (f" `{baseline}`" if baseline else "")
        table = markdown_table(COMPARISON_COLUMNS, [comparison_cells(c) for c in comparisons])
        parts += [title, table if comparisons else "_no metric to compare_"]
    return "\n\n".join(parts) + "\n"
