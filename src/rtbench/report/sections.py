"""The report's sections on the run itself, from summary.json: config, phases, latency,
throughput, self-check, target, metric definitions, token counting and warnings."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rtbench.bundle.summary_types import Summary
from rtbench.bundle.throughput import THROUGHPUT_FIGURES
from rtbench.metrics.histogram import SUMMARY_KEYS
from rtbench.metrics.names import COUNTERS, LATENCY_METRICS, TOKEN_COUNT_METHODS, token_method_counter
from rtbench.redaction import redacted_headers, redacted_url
from rtbench.report.frames import PHASES, Bundle, phase_spans
from rtbench.report.page import ChartImage, escape, image, note, pairs_table, paragraph, section, table
from rtbench.slo.format import format_number

__all__ = [
    "config_section",
    "phases_section",
    "latency_section",
    "throughput_section",
    "self_check_section",
    "untrusted_seconds",
    "target_section",
    "definitions_section",
    "tokens_section",
    "warnings_section",
    "coverage_text",
    "format_time",
]

MAX_VALUE_CHARS = 400
TOKEN_METHODS = {
    "usage": "from the protocol's usage block (the server's own token count)",
    "frames": "one token per content delta, or the count a frame carries (no usage block was sent)",
    "mixed": "from usage blocks where the protocol sent them, else one per content delta",
    "none": "no turn completed, so no token was counted",
}


def _value(value: Any, decimals: int = 3) -> str:
    """A summary value as text: numbers with separators, None as "-", containers as JSON."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_number(float(value), decimals)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > MAX_VALUE_CHARS:
        return f"{text[:MAX_VALUE_CHARS]}... ({len(text):,} characters)"
    return text


def _rows(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(name, text) pairs, nested mappings flattened with dotted names ("failed.timeout")."""
    rows: list[tuple[str, str]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows += _rows(value, f"{name}.")
        else:
            rows.append((name, _value(value, 6 if key.endswith("ratio") else 3)))
    return rows


def _config_value(value: Any) -> str:
    """A setting as written: integers without separators (ports, PIDs, seeds)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else _value(value)


def format_time(epoch: Any) -> str:
    """An epoch time as "2026-11-28 02:02:18.567 UTC", or "-"."""
    if not isinstance(epoch, (int, float)) or isinstance(epoch, bool):
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _redacted(key: str, value: Any) -> Any:
    if key == "headers":
        return redacted_headers(value) if isinstance(value, list) else value
    return redacted_url(value) if isinstance(value, str) else value


def load_model(config: Mapping[str, Any], delivery: Mapping[str, Any]) -> str:
    """One sentence on how load was offered: closed loop, or open loop from planned send times."""
    arrival = config.get("arrival", "closed")
    if arrival == "closed":
        think = config.get("think_time") or {}
        after = "the start of its previous prompt" if think.get("pacing") else "its previous response"
        return (
            f"Closed loop: each user sends its next prompt {think.get('low', '?')}-{think.get('high', '?')} s after"
            f" {after}. A slow target slows the offered load too, so stalls can hide from the"
            " percentiles (coordinated omission); open-loop runs (--arrival) measure from planned send times."
        )
    cap = config.get("max_in_flight")
    return (
        f"Open loop: {arrival} arrivals at {config.get('rate')} turns/s in all"
        + (f", at most {cap} in flight" if cap else "")
        + "; every latency is measured from the turn's planned send time, so a stalled target cannot hide"
        f" behind the turns it delayed ({delivery.get('turns_late', 0):,} turns started late)."
    )


def config_section(summary: Summary | None) -> str:
    """The resolved run configuration (secrets redacted) and the tool versions."""
    config = summary.get("config") if summary is not None else None
    if summary is None or not isinstance(config, Mapping) or not config:
        return section("config", "Run configuration", [note("summary.json holds no run configuration.")])
    rows = [(k, _config_value(_redacted(k, v))) for k, v in config.items()]
    delivery = summary.get("delivery")
    parts = [
        paragraph(
            load_model(config, delivery if isinstance(delivery, Mapping) else {}), css="headline", ident="load-model"
        ),
        pairs_table(rows),
    ]
    versions = summary.get("versions")
    if isinstance(versions, Mapping) and versions:
        parts.append(paragraph("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())))
    return section("config", "Run configuration", parts)


def coverage_text(bundle: Bundle, metric: str) -> str:
    """The phases a metric's distribution covers, e.g. "steady phase" or "ramp + steady + stop"."""
    phases = bundle.coverage(metric)
    return f"{phases[0]} phase" if len(phases) == 1 else " + ".join(phases) or "no data"


def _phase_rows(bundle: Bundle) -> list[tuple[str, Any, Any]]:
    """(phase, start, end) epoch times: from summary.json, else whole seconds of the time series."""
    phases = bundle.summary.get("phases") if bundle.summary is not None else None
    if isinstance(phases, Mapping):
        spans: Mapping[str, Any] = phases
        return [(name, (spans.get(name) or {}).get("start"), (spans.get(name) or {}).get("end")) for name in PHASES]
    frame = bundle.timeseries
    if frame is None:
        return [(name, None, None) for name in PHASES]
    origin = float(frame["time"].iloc[0] - frame["second"].iloc[0])
    return [(name, origin + start, origin + end) for name, start, end in phase_spans(frame)]


def phases_section(bundle: Bundle) -> str:
    """Phase start, end and length; what the figures cover."""
    summary = bundle.summary
    phase_rows = _phase_rows(bundle)
    first = phase_rows[0][1] if phase_rows else None
    started = summary.get("started_at", first) if summary is not None else first
    rows = []
    for name, start, end in phase_rows:
        known = isinstance(start, (int, float)) and isinstance(end, (int, float))
        length = f"{end - start:,.3f} s" if known else "not reached"
        offset = f"+{start - started:,.3f} s" if known and isinstance(started, (int, float)) else "-"
        rows.append((name, format_time(start), offset, format_time(end), length))
    parts = [
        table(("phase", "start", "from run start", "end", "duration"), rows, numeric=[False, False, True, False, True])
    ]
    if summary is None or not isinstance(summary.get("phases"), Mapping):
        parts.append(note("summary.json holds no phase times: these are the time series' whole seconds."))
    include_ramp = summary is not None and bool(summary.get("include_ramp"))
    whole_run = [str(m) for m in summary.get("whole_run_metrics", [])] if summary is not None else []
    parts.append(
        paragraph(
            "Time-series figures span the whole run with the ramp, steady and stop phases shaded. "
            + (
                "Summary figures and distributions include every phase (include_ramp)."
                if include_ramp
                else "Summary figures and distributions cover the steady phase only (ramp and stop are kept apart)."
            )
        )
    )
    if whole_run:
        parts.append(
            paragraph(
                f"Reported over every phase whatever include_ramp says (whole_run_metrics): {', '.join(whole_run)}."
            )
        )
    return section("phases", "Phases", parts)


def latency_section(bundle: Bundle, charts: Sequence[ChartImage]) -> str:
    """The latency summary table (ms), then the latency charts."""
    summary = bundle.summary
    found = summary.get("metrics") if summary is not None else None
    metrics: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    clamped: Mapping[str, int] = (summary.get("clamped") if summary is not None else None) or {}
    rows = []
    for name, figures in metrics.items():
        stats: Mapping[str, Any] = figures if isinstance(figures, Mapping) else {}
        coverage = coverage_text(bundle, name) if name in bundle.histograms else "-"
        rows.append((name, coverage, *(_value(stats.get(k)) for k in SUMMARY_KEYS), _value(clamped.get(name, 0))))
    headers = ("metric", "covers", *(k.replace("p99_9", "p99.9") for k in SUMMARY_KEYS), "clamped")
    parts = []
    if rows:
        parts.append(paragraph("Latencies in ms (count: values recorded; ITL once per token)."))
        parts.append(table(headers, rows, numeric=[False, False] + [True] * (len(headers) - 2)))
    else:
        parts.append(note("summary.json holds no latency summary; the charts come from the interval logs."))
    parts.extend(image(c) for c in charts)
    return section("latency", "Latency", parts)


def _section(summary: Summary | None, key: str) -> Mapping[str, Any]:
    """One object section of the summary (`delivery`, `goodput`, ...), empty when absent or malformed."""
    value = summary.get(key) if summary is not None else None
    return value if isinstance(value, Mapping) else {}


def throughput_section(summary: Summary | None, chart: ChartImage | None) -> str:
    """Delivery counts, goodput and sessions, then the throughput chart."""
    rows = _rows(_section(summary, "delivery"))
    for name in ("goodput", "sessions"):
        value = _section(summary, name)
        if value:
            rows += _rows(value, f"{name}.")
    parts = [pairs_table(rows, ("figure", "value"))] if rows else [note("summary.json holds no delivery figures.")]
    parts.append(image(chart) if chart is not None else note("No time series: no throughput chart."))
    return section("throughput", "Throughput and delivery", parts)


def untrusted_seconds(summary: Summary | None) -> list[float]:
    """The seconds (since the run's first whole second) in which the load generator was late."""
    seconds = _section(summary, "self_check").get("untrusted_seconds")
    if not isinstance(seconds, list):
        return []
    return [float(s) for s in seconds if isinstance(s, (int, float)) and not isinstance(s, bool)]


def _untrusted_text(check: Mapping[str, Any]) -> str | None:
    """How many seconds were untrusted and what share of the turns they hold, or None (an older
    summary without the figures)."""
    seconds = check.get("untrusted_seconds")
    if not isinstance(seconds, list):
        return None
    share = check.get("untrusted_turn_share")
    held = f"holding {share * 100:.1f}% of the turns measured" if isinstance(share, (int, float)) else "with no turn"
    count = len(seconds)
    return (
        f"{count} untrusted second{'' if count == 1 else 's'} (the load generator was late: a stall or a wait for"
        f" a core over the threshold), {held}; hatched on the time charts."
    )


def self_check_section(summary: Summary | None, chart: ChartImage | None) -> str:
    """Was the load generator the bottleneck or starved? The saturation flag shows in red when set,
    then the count of untrusted seconds and the share of turns measured in them."""
    check = _section(summary, "self_check")
    parts = []
    if check.get("saturated"):
        parts.append(paragraph(f"SATURATED: {_value(check.get('message'))}", "alert", "saturated"))
    elif check:
        parts.append(paragraph(str(check.get("message") or "client not saturated")))
    untrusted = _untrusted_text(check)
    if untrusted is not None:
        parts.append(paragraph(untrusted, ident="untrusted-seconds"))
    rows = _rows({k: v for k, v in check.items() if k != "message"})
    parts.append(pairs_table(rows, ("figure", "value")) if rows else note("summary.json holds no self-check."))
    parts.append(image(chart) if chart is not None else note("No client samples in the time series: no chart."))
    return section("self-check", "Load generator self-check", parts)


def target_section(summary: Summary | None, chart: ChartImage | None) -> str:
    """The target's memory and CPU, or a note when it was not monitored."""
    rows = _rows(_section(summary, "target"))
    parts = [pairs_table(rows, ("figure", "value"))] if rows else []
    if chart is not None:
        parts.append(image(chart))
    else:
        parts.append(note("The target was not monitored (no --target-pid or --target-metrics): no target chart."))
    return section("target", "Target resources", parts)


def definitions_section() -> str:
    """One line per metric and counter: what exactly was measured."""
    parts = [
        paragraph("Latency metrics (recorded in microseconds, reported in milliseconds):"),
        table(("metric", "definition"), LATENCY_METRICS.items()),
        paragraph("Throughput (summary.json throughput, over the same phases as the latencies):"),
        table(("figure", "definition"), THROUGHPUT_FIGURES.items()),
        paragraph("Counters:"),
        table(("counter", "definition"), COUNTERS.items()),
    ]
    return section("definitions", "Metric definitions", parts)


def tokens_section(summary: Summary | None) -> str:
    """How output tokens were counted, with the per-method turn counts."""
    method = summary.get("token_count_method") if summary is not None else None
    if summary is None or not isinstance(method, str):
        return section("tokens", "Token counting", [note("summary.json does not say how tokens were counted.")])
    counters = _section(summary, "counters")
    parts = [paragraph(f"Method: {method}: {TOKEN_METHODS.get(method, 'unknown method')}.")]
    counted = [*(token_method_counter(m) for m in TOKEN_COUNT_METHODS), "tokens"]
    counts = [(k, _value(counters.get(k, 0))) for k in counted]
    parts.append(pairs_table(counts, ("counter", "value")))
    return section("tokens", "Token counting", parts)


def warnings_section(warnings: Sequence[str]) -> str:
    """The run's warnings, one line each."""
    if not warnings:
        return section("warnings", "Warnings", [paragraph("No warnings.")])
    items = "".join(f"<li>{escape(str(w))}</li>" for w in warnings)
    return section("warnings", "Warnings", [f'<ul id="warnings-list">{items}</ul>'])
