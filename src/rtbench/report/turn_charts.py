"""The conversation charts: TTFT by turn index, and TTFT after a persona switch against turns of the
same persona. Summary figures (ms) in, PNG bytes out; None when there is nothing to draw."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rtbench.report.charts import PERCENTILE_STYLES, new_figure, png_bytes

__all__ = ["CHART_PERCENTILES", "ttft_by_turn", "persona_switch_against_same"]

#: The percentiles both charts draw.
CHART_PERCENTILES: tuple[str, ...] = ("p50", "p95")
_COLOURS = dict(PERCENTILE_STYLES)
_SWITCH_COLOURS = {"persona_switch": "#d62728", "ttft_same_persona": "#1f77b4"}


def _count(figures: Mapping[str, Any] | None) -> int:
    count = figures.get("count") if figures is not None else None
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def _ms(figures: Mapping[str, Any], key: str) -> float:
    value = figures.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else float("nan")


def ttft_by_turn(rows: Sequence[tuple[str, Mapping[str, Any]]]) -> bytes | None:
    """TTFT p50 and p95 (ms) per turn key ("1", "2", ..., "10+"), in the order given, each key
    labelled with its count of turns; None when no key has a value."""
    rows = [(key, figures) for key, figures in rows if _count(figures)]
    if not rows:
        return None
    fig, axes = new_figure(1, height_per_row=3.4)
    ax = axes[0, 0]
    x = np.arange(len(rows))
    top = 0.0
    for percentile in CHART_PERCENTILES:
        values = [_ms(figures, percentile) for _, figures in rows]
        top = max([top, *(v for v in values if v == v)])
        ax.plot(x, values, marker="o", lw=1.5, color=_COLOURS[percentile], label=f"TTFT {percentile}")
    ax.set_xticks(x, [f"{key}\nn={_count(figures):,}" for key, figures in rows], fontsize=8)
    ax.set_xlabel("turn index in its conversation (n: turns measured)")
    ax.set_ylabel("TTFT (ms)")
    ax.set_ylim(0, top * 1.1 or 1.0)
    ax.set_title("TTFT by turn index", loc="left", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return png_bytes(fig)


def persona_switch_against_same(switch: Mapping[str, Any] | None, same: Mapping[str, Any] | None) -> bytes | None:
    """Grouped bars of p50 and p95 (ms): the first turn after a persona switch (`persona_switch`)
    beside turns of the same persona (`ttft_same_persona`), each labelled with its count; None
    when neither has a value."""
    series = {"persona_switch": switch, "ttft_same_persona": same}
    if not any(_count(figures) for figures in series.values()):
        return None
    fig, axes = new_figure(1, height_per_row=3.4)
    ax = axes[0, 0]
    x = np.arange(len(CHART_PERCENTILES))
    width, top = 0.38, 0.0
    for i, (name, figures) in enumerate(series.items()):
        values = [_ms(figures or {}, p) for p in CHART_PERCENTILES]
        top = max([top, *(v for v in values if v == v)])
        offset = (i - 0.5) * width
        bars = ax.bar(x + offset, values, width, color=_SWITCH_COLOURS[name], label=f"{name} (n={_count(figures):,})")
        ax.bar_label(bars, labels=[f"{v:,.1f}" if v == v else "" for v in values], fontsize=8, padding=2)
    ax.set_xticks(x, list(CHART_PERCENTILES))
    ax.set_ylabel("TTFT (ms)")
    ax.set_ylim(0, top * 1.15 or 1.0)
    ax.set_title("TTFT after a persona switch against the same persona", loc="left", fontsize=11)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return png_bytes(fig)
