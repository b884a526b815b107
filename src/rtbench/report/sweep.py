"""A sweep's table and chart: throughput against TTFT, ITL and goodput, step by step, the knee marked."""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rtbench.report.page import ChartImage, image, page, paragraph, section, table

__all__ = ["SWEEP_HEADERS", "render_sweep", "sweep_chart", "sweep_rows"]

DPI = 100
SWEEP_HEADERS = (
    "load",
    "requests/s",
    "out tokens/s",
    "TTFT p50 ms",
    "TTFT p95 ms",
    "ITL p50 ms",
    "ITL p95 ms",
    "goodput/s",
    "turns",
    "note",
)
_NUMERIC = (True, True, True, True, True, True, True, True, True, False)


def _load(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _number(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def sweep_rows(steps: Sequence[Mapping[str, Any]], knee: float | None) -> list[tuple[str, ...]]:
    """The table's rows, one a step in the order run, as text (the console prints the same)."""
    rows: list[tuple[str, ...]] = []
    for step in steps:
        notes = []
        if knee is not None and step["load"] == knee:
            notes.append("knee")
        if step.get("saturated"):
            notes.append("client saturated")
        if step.get("partial"):
            notes.append(f"partial: {step['partial']}")
        rows.append(
            (
                _load(step["load"]),
                _number(step.get("requests_per_s"), 2),
                _number(step.get("output_tokens_per_s")),
                _number(step.get("ttft_p50")),
                _number(step.get("ttft_p95")),
                _number(step.get("itl_p50")),
                _number(step.get("itl_p95")),
                _number(step.get("goodput"), 2),
                f"{step.get('turns', 0):,}",
                "; ".join(notes),
            )
        )
    return rows


def _nan(values: Iterable[float | None]) -> list[float]:
    return [math.nan if value is None else value for value in values]


def sweep_chart(steps: Sequence[Mapping[str, Any]], knee: float | None, by: str) -> bytes:
    """PNG, two panels. Left: requests/s and goodput (and output tokens/s, right axis) against
    each step's load, the knee a vertical line. Right: TTFT and ITL p50/p95 against requests/s,
    each point labelled with its load."""
    ordered = sorted(steps, key=lambda s: s["load"])
    loads = [s["load"] for s in ordered]
    fig = Figure(figsize=(12.0, 4.4), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    left.plot(loads, _nan(s.get("requests_per_s") for s in ordered), marker="o", color="#1f77b4", label="requests/s")
    left.plot(loads, _nan(s.get("goodput") for s in ordered), marker="s", color="#2ca02c", label="goodput/s")
    if knee is not None:
        left.axvline(knee, color="#d62728", linestyle="--", label=f"knee {_load(knee)}")
    left.set_xlabel("users" if by == "users" else "arrival rate (turns/s)")
    left.set_ylabel("requests/s")
    left.grid(True, alpha=0.3)
    tokens = left.twinx()
    tokens.plot(
        loads, _nan(s.get("output_tokens_per_s") for s in ordered), marker="^", color="#9467bd", label="output tokens/s"
    )
    tokens.set_ylabel("output tokens/s")
    ours, theirs = left.get_legend_handles_labels(), tokens.get_legend_handles_labels()
    left.legend(ours[0] + theirs[0], ours[1] + theirs[1], loc="upper left", fontsize=8)
    throughput = _nan(s.get("requests_per_s") for s in ordered)
    for key, colour, style in (
        ("ttft_p50", "#ff7f0e", "-"),
        ("ttft_p95", "#d62728", "-"),
        ("itl_p50", "#17becf", "--"),
        ("itl_p95", "#1f77b4", "--"),
    ):
        right.plot(throughput, _nan(s.get(key) for s in ordered), marker="o", linestyle=style, color=colour, label=key)
    for step, x in zip(ordered, throughput, strict=True):
        if not math.isnan(x) and step.get("ttft_p50") is not None:
            right.annotate(_load(step["load"]), (x, step["ttft_p50"]), textcoords="offset points", xytext=(4, 4))
    right.set_xlabel("requests/s")
    right.set_ylabel("latency (ms)")
    right.set_yscale("log")
    right.grid(True, alpha=0.3)
    right.legend(loc="upper left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render_sweep(result: Mapping[str, Any], out_dir: Path) -> Path:
    """Write sweep.png and sweep.html for a sweep.json-shaped `result`; return the page."""
    steps, knee, by = result["steps"], result["knee"], result["by"]
    png = sweep_chart(steps, knee, by)
    (out_dir / "sweep.png").write_bytes(png)
    body = [
        section("knee", "Knee", [paragraph(result["line"], css="headline", ident="sweep-knee")]),
        section(
            "steps",
            "Steps, in the order run",
            [
                table(
                    SWEEP_HEADERS,
                    sweep_rows(steps, knee),
                    ["pass" if knee is not None and s["load"] == knee else "" for s in steps],
                    numeric=_NUMERIC,
                    table_id="sweep-steps",
                )
            ],
        ),
        section("chart", "Throughput and latency", [image(ChartImage("sweep", "throughput against latency", png))]),
    ]
    step = result.get("step", {})
    length = f"{step['requests']:,} requests" if step.get("requests") else (step.get("duration") or "scenario's")
    meta = f"scenario {result['scenario']} · sweep by {by} · each step {length}"
    path = out_dir / "sweep.html"
    path.write_text(page("rtbench sweep", meta, body), encoding="utf-8")
    return path
