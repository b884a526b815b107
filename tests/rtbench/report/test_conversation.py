"""The report's conversation section and its charts, from summary dicts made by hand."""

from __future__ import annotations

import re
from typing import Any

from rtbench.metrics.names import LATENCY_METRICS
from rtbench.report.charts import PNG_SIGNATURE
from rtbench.report.conversation import (
    BY_TURN_CHART,
    PERSONA_CHART,
    by_turn_figures,
    conversation_charts,
    conversation_section,
)
from rtbench.report.page import escape


def _figures(p50: float, count: int) -> dict[str, Any]:
    return {"count": count, "min": 1.0, "mean": p50, "p50": p50, "p90": p50 * 1.1, "p95": p50 * 1.2}


def _summary(**fields: Any) -> Any:
    summary: dict[str, Any] = {
        "include_ramp": False,
        "metrics": {"ttft": _figures(60.0, 300), "e2e": _figures(240.0, 300)},
        "metrics_by_turn": {},
        "conversation": {
            "conversations_started": 0,
            "persona_switches": 0,
            "context_truncations": 0,
            "context_turns_dropped": 0,
        },
    }
    return {**summary, **fields}


def _conversations() -> Any:
    by_turn = {
        str(k): {"ttft": _figures(50.0 + 4 * k, 60), "tpot": _figures(10.0, 60), "e2e": _figures(240.0 + k, 60)}
        for k in range(1, 6)
    }
    by_turn["10+"] = {"ttft": _figures(99.0, 7)}
    metrics = {
        "ttft": _figures(60.0, 300),
        "persona_switch": _figures(95.5, 12),
        "ttft_same_persona": _figures(58.25, 228),
    }
    counters = {"conversations_started": 60, "persona_switches": 12, "context_truncations": 3}
    return _summary(metrics=metrics, metrics_by_turn=by_turn, conversation={**counters, "context_turns_dropped": 4})


def test_a_run_without_conversations_has_no_section_and_no_chart() -> None:
    for summary in (None, _summary(), {"metrics": {"ttft": _figures(60.0, 3)}}):
        assert conversation_charts(summary) == {}
        assert conversation_section(summary, {}) is None


def test_charts_carry_the_definitions_of_what_they_show() -> None:
    charts = conversation_charts(_conversations())
    assert list(charts) == [BY_TURN_CHART, PERSONA_CHART]
    assert all(chart.png.startswith(PNG_SIGNATURE) for chart in charts.values())
    by_turn, persona = charts[BY_TURN_CHART].caption, charts[PERSONA_CHART].caption
    assert f"ttft: {LATENCY_METRICS['ttft']}." in by_turn and "10+: turn 10 and later" in by_turn
    assert "steady phase" in by_turn
    for metric in ("persona_switch", "ttft_same_persona"):
        assert f"{metric}: {LATENCY_METRICS[metric]}." in persona
    assert "every phase" in conversation_charts({**_conversations(), "include_ramp": True})[BY_TURN_CHART].caption


def test_section_tables_turns_in_order_then_persona_switches() -> None:
    summary = _conversations()
    charts = conversation_charts(summary)
    html = conversation_section(summary, charts)
    assert html is not None and html.startswith('<section id="conversation">')
    table = html[html.index('id="by-turn-table"') :]
    table = table[: table.index("</table>")]
    assert re.findall(r"<tr><td>([^<]+)</td>", table) == ["1", "2", "3", "4", "5", "10+"]
    assert '<td>10+</td><td class="num">7</td><td class="num">99</td>' in table
    persona = html[html.index('id="persona-table"') :]
    assert '<td>persona_switch</td><td class="num">12</td><td class="num">95.5</td>' in persona
    assert '<td>ttft_same_persona</td><td class="num">228</td><td class="num">58.25</td>' in persona
    assert "<td>context_turns_dropped</td><td>4</td>" in html
    # each chart follows its table, with its caption
    by_turn_chart = html.index(f'id="chart-{BY_TURN_CHART}"')
    assert html.index('id="by-turn-table"') < by_turn_chart < html.index('id="persona-table"')
    assert html.index(f'id="chart-{PERSONA_CHART}"') > html.index('id="persona-table"')
    assert escape(charts[PERSONA_CHART].caption) in html


def test_a_native_persona_mix_shows_the_switches_alone() -> None:
    """Native `mix` personas record persona_switch without conversations: the persona chart shows,
    the by-turn one does not."""
    summary = _summary(metrics={"ttft": _figures(60.0, 300), "persona_switch": _figures(80.0, 9)})
    charts = conversation_charts(summary)
    assert list(charts) == [PERSONA_CHART]
    html = conversation_section(summary, charts)
    assert html is not None and 'id="by-turn-table"' not in html and 'id="persona-table"' in html


def test_by_turn_figures_skip_turns_without_values() -> None:
    summary = _summary(metrics_by_turn={"1": {"ttft": _figures(50.0, 3)}, "2": {"e2e": _figures(90.0, 1)}})
    assert [key for key, _ in by_turn_figures(summary)] == ["1"]
    assert [key for key, _ in by_turn_figures(summary, "e2e")] == ["2"]
