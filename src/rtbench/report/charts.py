"""The report's charts, one function each: pandas frames in, PNG bytes out (matplotlib, Agg).

Each chart function returns None when the bundle holds no data for it. Figures are built with
matplotlib's object API (no pyplot), so rendering keeps no global state.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, LogFormatter, NullFormatter, NullLocator

from rtbench.metrics.histogram import LatencyHistogram
from rtbench.report.frames import percentile_curve, phase_spans, value_counts

__all__ = [
    "PNG_SIGNATURE",
    "PERCENTILE_STYLES",
    "Mark",
    "new_figure",
    "png_bytes",
    "latency_over_time",
    "percentile_distribution",
    "latency_histograms",
    "throughput_over_time",
    "client_over_time",
    "target_over_time",
    "baseline_percentiles",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DPI = 100
WIDTH_IN = 10.0
PHASE_COLOURS = {"ramp": "#f6d7a7", "steady": "#d5ecd4", "stop": "#f3c4c4"}
PERCENTILE_STYLES = (("p50", "#1f77b4"), ("p95", "#ff7f0e"), ("p99", "#d62728"))
TAIL_TICKS = {2.0: "50%", 10.0: "90%", 100.0: "99%", 1e3: "99.9%", 1e4: "99.99%", 1e5: "99.999%"}
TIME_LABEL = "time since start (s)"
BINS = 60
EVENT_COLOURS = {
    "worker_crash": "#17becf",
    "worker_lost": "#8c564b",
    "target_crash": "#bcbd22",
    "target_down": "#ff00ff",
    "interrupted": "#e377c2",
    "aborted": "#000080",
    "bundle_write_failed": "#7f7f7f",
}
UNTRUSTED_COLOUR = "#7f7f7f"
#: An event on a time chart: (seconds since the run's first whole second, kind).
Mark = tuple[float, str]


def new_figure(rows: int, cols: int = 1, height_per_row: float = 2.6) -> tuple[Figure, np.ndarray]:
    """A figure of the report's width with a grid of axes (`axes[row, col]`), not tied to pyplot."""
    fig = Figure(figsize=(WIDTH_IN, 0.9 + height_per_row * rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=cols == 1)
    return fig, axes


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _has(frame: pd.DataFrame | None, columns: Sequence[str]) -> bool:
    return frame is not None and any(c in frame and frame[c].notna().any() for c in columns)


def _shade_phases(ax: Axes, frame: pd.DataFrame, legend: bool = False) -> None:
    for phase, start, end in phase_spans(frame):
        ax.axvspan(start, end, color=PHASE_COLOURS.get(phase, "#eeeeee"), alpha=0.6, lw=0, zorder=0)
    if legend:
        labelled = {phase for phase, _, _ in phase_spans(frame)}
        for phase, colour in PHASE_COLOURS.items():
            if phase in labelled:
                ax.axvspan(np.nan, np.nan, color=colour, alpha=0.6, lw=0, label=f"{phase} phase")


def _mark_events(ax: Axes, events: Sequence[Mark]) -> None:
    """A dashed vertical line at each event, one legend entry per kind."""
    labelled: set[str] = set()
    for x, kind in events:
        colour = EVENT_COLOURS.get(kind, "#000000")
        label = None if kind in labelled else kind.replace("_", " ")
        labelled.add(kind)
        ax.axvline(x, color=colour, ls="--", lw=1.4, label=label, zorder=3)


def _shade_untrusted(ax: Axes, seconds: Sequence[float]) -> None:
    """Hatch each untrusted second [s, s + 1): the load generator was late in it."""
    for i, second in enumerate(sorted(seconds)):
        ax.axvspan(
            second,
            second + 1,
            facecolor=UNTRUSTED_COLOUR,
            alpha=0.35,
            hatch="//",
            edgecolor="#404040",
            lw=0,
            zorder=1,
            label="untrusted second (client late)" if i == 0 else None,
        )


def _lines(
    ax: Axes,
    frame: pd.DataFrame,
    series: Sequence[tuple[str, str, str]],
    ylabel: str,
    title: str,
    events: Sequence[Mark] = (),
    untrusted: Sequence[float] = (),
) -> None:
    """Plot (column, label, colour) series against `second`, phases shaded, events marked,
    untrusted seconds hatched."""
    _shade_phases(ax, frame, legend=True)
    _shade_untrusted(ax, untrusted)
    for column, label, colour in series:
        if column in frame and frame[column].notna().any():
            ax.plot(frame["second"], frame[column], label=label, color=colour, lw=1.3)
    _mark_events(ax, events)
    ax.set_ylabel(ylabel)
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend(ax)


def _legend(ax: Axes) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def latency_over_time(
    frame: pd.DataFrame | None, events: Sequence[Mark] = (), untrusted: Sequence[float] = ()
) -> bytes | None:
    """TTFT and E2E p50/p95/p99 per second, ramp/steady/stop shaded, events marked, the seconds in
    which the load generator was late (`untrusted`, seconds since the start) hatched."""
    metrics = [m for m in ("ttft", "e2e") if _has(frame, [f"{m}_{p}_ms" for p, _ in PERCENTILE_STYLES])]
    if frame is None or not metrics:
        return None
    fig, axes = new_figure(len(metrics))
    for ax, metric in zip(axes[:, 0], metrics, strict=False):
        series = [(f"{metric}_{p}_ms", p, colour) for p, colour in PERCENTILE_STYLES]
        title = f"{metric.upper()} percentiles per second"
        _lines(ax, frame, series, f"{metric.upper()} (ms)", title, events, untrusted)
    axes[-1, 0].set_xlabel(TIME_LABEL)
    return png_bytes(fig)


def _tail_axis(ax: Axes, top: float) -> None:
    ax.set_xscale("log")
    ax.set_xlim(1.0, max(top, 10.0))
    ticks = [t for t in TAIL_TICKS if t <= max(top, 10.0)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(lambda value, _: TAIL_TICKS.get(float(value), ""))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.tick_params(axis="x", labelrotation=40, labelsize=8)
    ax.set_xlabel("percentile (1/(1-p) scale)")
    ax.grid(True, alpha=0.3)


def _curves(
    histograms: Mapping[str, Mapping[str, LatencyHistogram | None]], title: str, styles: Mapping[str, str]
) -> bytes | None:
    """One panel per metric; in each, one percentile curve per series (label -> histogram)."""
    metrics = [m for m, series in histograms.items() if any(h is not None and h.total_count for h in series.values())]
    if not metrics:
        return None
    fig, axes = new_figure(1, len(metrics), height_per_row=3.6)
    for ax, metric in zip(axes[0], metrics, strict=False):
        top = 10.0
        for label, histogram in histograms[metric].items():
            if histogram is None or not histogram.total_count:
                continue
            curve = percentile_curve(histogram)
            top = max(top, float(curve["tail"].iloc[-1]))
            ax.plot(
                curve["tail"], curve["value_ms"], label=label, drawstyle="steps-post", lw=1.5, ls=styles.get(label, "-")
            )
        _tail_axis(ax, top)
        ax.set_ylim(bottom=0)
        ax.set_ylabel(f"{metric.upper()} (ms)")
        ax.set_title(metric.upper(), loc="left", fontsize=11)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    return png_bytes(fig)


def percentile_distribution(
    histograms: Mapping[str, LatencyHistogram | None], labels: Mapping[str, str]
) -> bytes | None:
    """HDR percentile plot of each metric (e.g. ttft, itl, e2e) on a 1/(1-p) log axis; `labels`
    names each metric's coverage (e.g. "steady phase")."""
    series = {m: {labels.get(m, m): h} for m, h in histograms.items()}
    return _curves(series, "Latency by percentile (merged interval histograms)", {})


def baseline_percentiles(
    current: Mapping[str, LatencyHistogram | None], baseline: Mapping[str, LatencyHistogram | None]
) -> bytes | None:
    """Current and baseline percentile curves overlaid, one panel per metric."""
    series = {m: {"current": current.get(m), "baseline": baseline.get(m)} for m in current}
    return _curves(series, "Latency by percentile: current run against the baseline", {"baseline": "--"})


def _histogram(ax: Axes, values: np.ndarray, weights: np.ndarray, metric: str) -> None:
    """Bars of `weights` over `values`: log-spaced bins when the values span over a decade."""
    low, high = max(float(values.min()), 1e-3), max(float(values.max()), 1e-3)
    log = high / low > 10.0
    if log:
        edges = np.geomspace(low * 0.98, high * 1.02, BINS + 1)
    else:
        pad = max((high - low) * 0.02, 1e-3)
        edges = np.linspace(low - pad, high + pad, BINS + 1)
    ax.hist(values, bins=edges.tolist(), weights=weights, color="#4c72b0")
    if log:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(lambda value, _: f"{value:g}")
        ax.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    ax.set_xlabel(f"{metric.upper()} (ms{', log scale' if log else ''})")


def latency_histograms(histograms: Mapping[str, LatencyHistogram | None]) -> bytes | None:
    """The distribution of each metric (e.g. ttft, itl) from its HDR buckets: log-spaced bins,
    share of values per bin."""
    metrics = [m for m, h in histograms.items() if h is not None and h.total_count]
    if not metrics:
        return None
    fig, axes = new_figure(1, len(metrics), height_per_row=3.4)
    for ax, metric in zip(axes[0], metrics, strict=False):
        buckets = value_counts(histograms[metric])  # type: ignore[arg-type]
        total = float(buckets["count"].sum())
        _histogram(ax, buckets["value_ms"].to_numpy(), buckets["count"].to_numpy() * (100.0 / total), metric)
        ax.set_ylabel("share of values (%)")
        ax.set_title(f"{metric.upper()} distribution ({int(total):,} values)", loc="left", fontsize=11)
        ax.grid(True, alpha=0.3)
    return png_bytes(fig)


def throughput_over_time(frame: pd.DataFrame | None, events: Sequence[Mark] = ()) -> bytes | None:
    """Sessions connected, turns per second (sent, completed, failed) and tokens per second;
    events marked."""
    panels = [
        (
            [("users", "users started", "#7f7f7f"), ("sessions", "sessions connected", "#1f77b4")],
            "sessions",
            "Sessions",
        ),
        (
            [
                ("turns_sent", "sent", "#1f77b4"),
                ("turns_completed", "completed", "#2ca02c"),
                ("turns_failed", "failed", "#d62728"),
            ],
            "turns/s",
            "Turns per second",
        ),
        ([("tokens", "tokens", "#9467bd")], "tokens/s", "Output tokens per second"),
    ]
    panels = [p for p in panels if _has(frame, [c for c, _, _ in p[0]])]
    if frame is None or not panels:
        return None
    fig, axes = new_figure(len(panels), height_per_row=2.2)
    for ax, (series, ylabel, title) in zip(axes[:, 0], panels, strict=False):
        _lines(ax, frame, series, ylabel, title, events)
    axes[-1, 0].set_xlabel(TIME_LABEL)
    return png_bytes(fig)


def _threshold(ax: Axes, value: float | None, label: str) -> None:
    if value is not None:
        ax.axhline(value, color="#d62728", ls="--", lw=1, label=label)
        ax.set_ylim(top=max(ax.get_ylim()[1], value * 1.15))
        _legend(ax)


def client_over_time(
    frame: pd.DataFrame | None,
    lag_limit_ms: float | None = None,
    cpu_limit: float | None = None,
    events: Sequence[Mark] = (),
    untrusted: Sequence[float] = (),
    limits: Mapping[str, float | None] | None = None,
) -> bytes | None:
    """The load generator per second: greenlet lag p99 and CPU with the saturation thresholds,
    its longest stall and its wait for a core with the thresholds of an untrusted second
    (`limits`: `lag_max_ms`, `runq_delay_ms`), and the machine's CPU; untrusted seconds hatched."""
    limits = limits or {}
    saturation, untrusted_above = "saturation threshold", "untrusted above"
    panels = [
        ("client_lag_p99_ms", "lag p99 (ms)", "Client scheduling lag (p99 per second)", lag_limit_ms, saturation),
        ("client_cpu", "CPU (%)", "Client CPU (busiest load process)", cpu_limit, saturation),
        ("client_lag_max_ms", "lag max (ms)", "Client stalls (lag max per second)", limits.get("lag_max_ms"), ""),
        (
            "client_runq_delay_ms",
            "wait (ms)",
            "Client wait for a core, mean per run (most starved load process)",
            limits.get("runq_delay_ms"),
            "",
        ),
        ("machine_cpu", "CPU (%)", "Machine CPU (100% = every core busy)", None, ""),
    ]
    panels = [p for p in panels if _has(frame, [p[0]])]
    if frame is None or not panels:
        return None
    fig, axes = new_figure(len(panels), height_per_row=2.2)
    for ax, (column, ylabel, title, limit, label) in zip(axes[:, 0], panels, strict=False):
        _lines(ax, frame, [(column, ylabel.split(" (")[0], "#1f77b4")], ylabel, title, events, untrusted)
        _threshold(ax, limit, label or untrusted_above)
    axes[-1, 0].set_xlabel(TIME_LABEL)
    return png_bytes(fig)


def target_over_time(frame: pd.DataFrame | None, events: Sequence[Mark] = ()) -> bytes | None:
    """The target's RSS and CPU per second, and an LLM server's queue, KV-cache use and tokens/s
    from its own metrics, events marked; None when the target was not monitored."""
    brown = "#8c564b"
    panels = [
        ([("target_rss_mb", "RSS", brown)], "RSS (MB)", "Target resident memory"),
        ([("target_cpu", "CPU", brown)], "CPU (%)", "Target CPU"),
        (
            [("target_waiting", "waiting", "#d62728"), ("target_running", "running", "#1f77b4")],
            "requests",
            "Target queue: requests waiting for a slot and running (server metrics)",
        ),
        ([("target_kv_cache_pct", "KV cache", brown)], "use (%)", "Target KV-cache use (server metrics)"),
        (
            [
                ("target_prompt_tokens_per_s", "prompt", "#9467bd"),
                ("target_generation_tokens_per_s", "generated", "#2ca02c"),
            ],
            "tokens/s",
            "Target tokens/s (server metrics)",
        ),
    ]
    panels = [p for p in panels if _has(frame, [series[0] for series in p[0]])]
    if frame is None or not panels:
        return None
    fig, axes = new_figure(len(panels), height_per_row=2.2)
    for ax, (series, ylabel, title) in zip(axes[:, 0], panels, strict=False):
        _lines(ax, frame, series, ylabel, title, events)
    axes[-1, 0].set_xlabel(TIME_LABEL)
    return png_bytes(fig)
