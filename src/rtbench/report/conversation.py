"""The report's conversation section, from summary.json: TTFT by turn index (`metrics_by_turn`),
TTFT after a persona switch against the same persona (`metrics`), and the conversation counters
(`conversation`). Each chart carries the definitions of what it shows; nothing is shown without data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.metrics.breakdowns import BY_TURN_TAIL
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.report.page import ChartImage, image, pairs_table, paragraph, section, table
from rtbench.report.turn_charts import persona_switch_against_same, ttft_by_turn
from rtbench.slo.format import format_number

__all__ = [
    "BY_TURN_CHART",
    "PERSONA_CHART",
    "CONVERSATION_CHARTS",
    "by_turn_figures",
    "conversation_charts",
    "conversation_section",
]

BY_TURN_CHART = "ttft_by_turn"
PERSONA_CHART = "persona_switch"
#: The charts of this section, in page order.
CONVERSATION_CHARTS: tuple[str, ...] = (BY_TURN_CHART, PERSONA_CHART)
_PERSONA_METRICS = ("persona_switch", "ttft_same_persona")
#: Columns of the by-turn table: (metric, statistic).
_BY_TURN_COLUMNS = (("ttft", "p50"), ("ttft", "p95"), ("ttft", "p99"), ("tpot", "p50"), ("e2e", "p50"), ("e2e", "p95"))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(figures: Mapping[str, Any]) -> int:
    count = figures.get("count")
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _ms(value: Any, decimals: int = 3) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_number(float(value), decimals)
    return "-"


def by_turn_figures(summary: Summary | None, metric: str = "ttft") -> list[tuple[str, Mapping[str, Any]]]:
    """(turn key, `metric`'s figures) for each key of `metrics_by_turn` that has values, in its order."""
    by_turn = _mapping(summary.get("metrics_by_turn") if summary is not None else None)
    rows = [(str(key), _mapping(_mapping(metrics).get(metric))) for key, metrics in by_turn.items()]
    return [(key, figures) for key, figures in rows if _count(figures)]


def _persona_figures(summary: Summary | None) -> dict[str, Mapping[str, Any]]:
    metrics = _mapping(summary.get("metrics") if summary is not None else None)
    return {name: _mapping(metrics.get(name)) for name in _PERSONA_METRICS}


def _coverage(summary: Summary | None) -> str:
    if summary is not None and summary.get("include_ramp"):
        return "every phase (include_ramp)"
    return "steady phase"


def _definition(metric: str) -> str:
    return f"{metric}: {LATENCY_METRICS[metric]}."


def conversation_charts(summary: Summary | None) -> dict[str, ChartImage]:
    """The section's charts that have data, by name (see CONVERSATION_CHARTS)."""
    coverage = _coverage(summary)
    built: dict[str, ChartImage] = {}
    png = ttft_by_turn(by_turn_figures(summary))
    if png is not None:
        caption = (
            f"TTFT p50 and p95 by the turn's 1-based index in its conversation ({BY_TURN_TAIL}+: turn {BY_TURN_TAIL}"
            f" and later), over the {coverage}; n: turns measured. {_definition('ttft')}"
        )
        built[BY_TURN_CHART] = ChartImage(BY_TURN_CHART, caption, png)
    persona = _persona_figures(summary)
    png = persona_switch_against_same(persona["persona_switch"], persona["ttft_same_persona"])
    if png is not None:
        caption = (
            "TTFT p50 and p95 of the first turn after a persona switch against turns of the same persona,"
            f" over the {coverage}; n: turns measured. " + " ".join(_definition(m) for m in _PERSONA_METRICS)
        )
        built[PERSONA_CHART] = ChartImage(PERSONA_CHART, caption, png)
    return built


def _by_turn_table(summary: Summary | None) -> str | None:
    by_turn = _mapping(summary.get("metrics_by_turn") if summary is not None else None)
    if not by_turn:
        return None
    rows = []
    for key, metrics in by_turn.items():
        figures = {m: _mapping(v) for m, v in _mapping(metrics).items()}
        cells = [_ms(figures.get(m, {}).get(stat)) for m, stat in _BY_TURN_COLUMNS]
        rows.append((str(key), _ms(_count(figures.get("ttft", {})), 0), *cells))
    headers = ("turn", "turns", *(f"{m.upper()} {stat}" for m, stat in _BY_TURN_COLUMNS))
    return table(headers, rows, numeric=[False] + [True] * (len(headers) - 1), table_id="by-turn-table")


def _persona_table(summary: Summary | None) -> str | None:
    persona = _persona_figures(summary)
    if not any(_count(figures) for figures in persona.values()):
        return None
    rows = [(name, _ms(_count(f), 0), *(_ms(f.get(k)) for k in ("p50", "p95", "p99"))) for name, f in persona.items()]
    headers = ("metric", "count", "p50", "p95", "p99")
    return table(headers, rows, numeric=[False, True, True, True, True], table_id="persona-table")


def conversation_section(summary: Summary | None, charts: Mapping[str, ChartImage]) -> str | None:
    """Turns by index, persona switches and the conversation counters, with the section's charts;
    None when the run held no conversation (no by-turn figure, persona sample or counter)."""
    counters = _mapping(summary.get("conversation") if summary is not None else None)
    by_turn, persona = _by_turn_table(summary), _persona_table(summary)
    if by_turn is None and persona is None and not any(counters.values()):
        return None
    parts = [paragraph(f"Counters over the whole run; latencies in ms over the {_coverage(summary)}.")]
    if counters:
        parts.append(pairs_table([(str(k), _ms(v, 0)) for k, v in counters.items()], ("counter", "value")))
    for fragment, chart in ((by_turn, BY_TURN_CHART), (persona, PERSONA_CHART)):
        if fragment is not None:
            parts.append(fragment)
        if chart in charts:
            parts.append(image(charts[chart]))
    return section("conversation", "Conversations", parts)
