"""The capacity search's report: a knee plot (load against p95/p99 and goodput) and its steps."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtbench.report.page import ChartImage, image, page, paragraph, section, table

__all__ = ["knee_chart", "render_capacity"]

DPI = 100


def knee_chart(steps: Sequence[Mapping[str, Any]], metric: str, answer: int | None, by: str) -> bytes:
    """PNG: each step's `metric` p95/p99 (left axis) and goodput (right axis) against its load,
    breaching steps marked, the answer drawn as a vertical line."""
    ordered = sorted(steps, key=lambda s: s["load"])
    loads = [s["load"] for s in ordered]
    fig = Figure(figsize=(10.0, 4.2), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for stat, colour in (("p95", "#ff7f0e"), ("p99", "#d62728")):
        values = _gaps_as_nan(s.get(stat) for s in ordered)
        ax.plot(loads, values, marker="o", color=colour, label=f"{metric} {stat} (steady)")
    failed = [s for s in ordered if not s["passed"]]
    ax.scatter(
        [s["load"] for s in failed],
        _gaps_as_nan(s.get("p99") for s in failed),
        s=120,
        facecolors="none",
        edgecolors="#c62828",
        linewidths=2,
        label="SLO breached",
        zorder=3,
    )
    if answer is not None:
        ax.axvline(answer, color="#1e7d32", linestyle="--", label=f"capacity {answer:,}")
    ax.set_xlabel("sessions" if by == "users" else "arrival rate (turns/s)")
    ax.set_ylabel(f"{metric} (ms)")
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(
        loads,
        _gaps_as_nan(s.get("goodput") for s in ordered),
        marker="s",
        color="#1f77b4",
        alpha=0.7,
        label="goodput (turns/s)",
    )
    right.set_ylabel("goodput (turns/s)")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _gaps_as_nan(values: Iterable[float | None]) -> list[float]:
    """The values, None (a step without the figure) as NaN, which matplotlib leaves a gap for."""
    return [math.nan if value is None else value for value in values]


def render_capacity(result: Mapping[str, Any], out_dir: Path) -> Path:
    """Write knee.png and capacity.html for a capacity.json-shaped `result`; return the page."""
    steps, metric, by = result["steps"], result["metric"], result["by"]
    png = knee_chart(steps, metric, result["answer"], by)
    (out_dir / "knee.png").write_bytes(png)
    rows = [
        (
            f"{s['load']:,}",
            "pass" if s["passed"] else "FAIL",
            _ms(s.get("p95")),
            _ms(s.get("p99")),
            "-" if s.get("goodput") is None else f"{s['goodput']:.1f}",
            "yes" if s.get("saturated") else "no",
            "; ".join(s.get("breached", [])),
            s.get("bundle", ""),
        )
        for s in steps
    ]
    body = [
        section("answer", "Answer", [paragraph(result["line"], css="headline", ident="capacity-answer")]),
        section("knee", "Knee", [image(ChartImage("knee", f"{metric} p95/p99 and goodput by load", png))]),
        section(
            "steps",
            "Steps, in the order run",
            [
                table(
                    (
                        "load",
                        "verdict",
                        f"{metric} p95",
                        f"{metric} p99",
                        "goodput/s",
                        "client saturated",
                        "breached",
                        "bundle",
                    ),
                    rows,
                    ["pass" if s["passed"] else "fail" for s in steps],
                    numeric=(True, False, True, True, True, False, False, False),
                    table_id="capacity-steps",
                )
            ],
        ),
    ]
    meta = f"scenario {result['scenario']} · SLOs {result['slo']} · search by {by}"
    path = out_dir / "capacity.html"
    path.write_text(page("rtbench capacity", meta, body), encoding="utf-8")
    return path


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
