"""The report's throughput headline (the first section after a partial run's banner) and its chart
of TTFT against input tokens. Summary figures in, HTML fragments and PNG bytes out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rtbench.bundle.summary_types import Summary
from rtbench.bundle.throughput import THROUGHPUT_FIGURES, method_notes
from rtbench.metrics.names import LATENCY_METRICS
from rtbench.report.charts import PERCENTILE_STYLES, new_figure, png_bytes
from rtbench.report.page import ChartImage, note, pairs_table, paragraph, section
from rtbench.slo.format import format_number

__all__ = ["INPUT_CHART", "headline_section", "ttft_by_input_chart", "ttft_by_input_tokens"]

INPUT_CHART = "ttft_by_input_tokens"
_PERCENTILES = ("p50", "p95")
_COLOURS = dict(PERCENTILE_STYLES)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    number = _number(value)
    if number is not None:
        return format_number(number, 3)
    return "-" if value is None else str(value)


def _coverage(summary: Summary) -> str:
    return "every phase (include_ramp)" if summary.get("include_ramp") else "the steady phase"


def headline_section(summary: Summary | None) -> str | None:
    """Requests/s, tokens/s (overall and per user) and goodput over the reported phases, with what
    the token counts are (estimated or not); None for a bundle older than the section."""
    throughput = _mapping(summary.get("throughput") if summary is not None else None)
    if summary is None or not throughput:
        return None
    rows = [(name, _text(throughput.get(name))) for name in THROUGHPUT_FIGURES if name in throughput]
    parts = [
        paragraph(
            f"Over {_coverage(summary)} ({_text(throughput.get('seconds'))} s), the same phases as the latencies.",
            css="headline",
        ),
        pairs_table(rows, ("figure", "value")),
    ]
    parts += [note(text.capitalize() + ".", warn=False) for text in method_notes(throughput)]
    return section("throughput-headline", "Throughput", parts)


def ttft_by_input_tokens(rows: list[tuple[str, Mapping[str, Any]]]) -> bytes | None:
    """TTFT p50 and p95 (ms) against the input-token bucket (its power-of-two floor), each bucket
    labelled with its count; None when no bucket has a value."""
    rows = [(key, figures) for key, figures in rows if _number(figures.get("count"))]
    if not rows:
        return None
    fig, axes = new_figure(1, height_per_row=3.4)
    ax = axes[0, 0]
    x = np.arange(len(rows))
    top = 0.0
    for percentile in _PERCENTILES:
        values = [_number(figures.get(percentile)) for _, figures in rows]
        drawn = [v if v is not None else float("nan") for v in values]
        top = max([top, *(v for v in values if v is not None)])
        ax.plot(x, drawn, marker="o", lw=1.5, color=_COLOURS[percentile], label=f"TTFT {percentile}")
    labels = [f"{key}\nn={int(_number(figures.get('count')) or 0):,}" for key, figures in rows]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel("input tokens (bucket: at least this many, below the next; n: turns measured)")
    ax.set_ylabel("TTFT (ms)")
    ax.set_ylim(0, top * 1.1 or 1.0)
    ax.set_title("TTFT by input tokens", loc="left", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return png_bytes(fig)


def ttft_by_input_chart(summary: Summary | None) -> ChartImage | None:
    """The chart of `metrics_by_input_tokens`, with its caption; None when it has no value."""
    by_input = _mapping(summary.get("metrics_by_input_tokens") if summary is not None else None)
    rows = [(str(key), _mapping(_mapping(metrics).get("ttft"))) for key, metrics in by_input.items()]
    png = ttft_by_input_tokens(rows)
    if png is None or summary is None:
        return None
    method = _mapping(summary.get("throughput")).get("input_token_method", "unknown")
    caption = (
        f"TTFT p50 and p95 against the turn's input tokens (power-of-two buckets; counted by: {method}),"
        f" over {_coverage(summary)}. ttft: {LATENCY_METRICS['ttft']}."
    )
    return ChartImage(INPUT_CHART, caption, png)
