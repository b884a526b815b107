"""`render_report`: a result bundle in, `report.html` (self-contained) and its PNG charts out.

The report goes into the bundle: `BUNDLE/report.html`, with each chart also saved as
`BUNDLE/report/<chart>.png`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rtbench.bundle.paths import CHART_DIR, REPORT_FILE
from rtbench.bundle.summary_types import Summary
from rtbench.errors import BundleError
from rtbench.metrics.histogram import LatencyHistogram
from rtbench.report import charts
from rtbench.report.conversation import CONVERSATION_CHARTS, conversation_charts, conversation_section
from rtbench.report.frames import Bundle, load_bundle
from rtbench.report.page import ChartImage, page
from rtbench.report.rebuild import with_rebuilt_summary
from rtbench.report.sections import (
    config_section,
    coverage_text,
    definitions_section,
    format_time,
    latency_section,
    phases_section,
    self_check_section,
    target_section,
    throughput_section,
    tokens_section,
    untrusted_seconds,
    warnings_section,
)
from rtbench.report.throughput import INPUT_CHART, headline_section, ttft_by_input_chart
from rtbench.report.timeline import event_marks, events_section, partial_banner
from rtbench.report.verdict import baseline_section, outcome, verdict_section
from rtbench.report.wire import wire_section
from rtbench.slo.compare import Comparison, comparability_warnings, compare
from rtbench.slo.evaluate import Verdict, evaluate
from rtbench.slo.sources import load_slo_file, spec_from_summary
from rtbench.slo.spec import SloSpec

__all__ = ["render_report", "read_bundle", "REPORT_FILE", "CHART_DIR", "CHART_NAMES", "build_charts", "report_html"]

PERCENTILE_METRICS = ("ttft", "itl", "e2e")
HISTOGRAM_METRICS = ("ttft", "itl")
#: Every chart a report may hold, in page order.
CHART_NAMES: tuple[str, ...] = (
    "baseline_percentiles",
    "latency_over_time",
    "percentiles",
    "distributions",
    INPUT_CHART,
    *CONVERSATION_CHARTS,
    "throughput",
    "client",
    "target",
)


def _histograms(bundle: Bundle, metrics: tuple[str, ...]) -> dict[str, LatencyHistogram | None]:
    return {m: bundle.histogram(m) for m in metrics}


def build_charts(bundle: Bundle, baseline: Bundle | None = None) -> dict[str, ChartImage]:
    """Every chart the bundle has data for, by name (see CHART_NAMES)."""
    frame = bundle.timeseries
    check = bundle.summary.get("self_check") if bundle.summary is not None else None
    thresholds: Mapping[str, Any] = (check.get("thresholds") if isinstance(check, Mapping) else None) or {}
    untrusted = untrusted_seconds(bundle.summary)
    coverage = {m: coverage_text(bundle, m) for m in PERCENTILE_METRICS}
    marks = event_marks(bundle)
    makers: dict[str, tuple[str, Callable[[], bytes | None]]] = {
        "latency_over_time": (
            "TTFT and E2E p50/p95/p99 per second over the whole run; ramp, steady and stop phases shaded"
            + (f"; the {len(untrusted)} untrusted seconds (load generator late) hatched." if untrusted else "."),
            lambda: charts.latency_over_time(frame, marks, untrusted),
        ),
        "percentiles": (
            "HDR percentile distribution of TTFT, ITL and E2E from the merged interval logs ("
            + "; ".join(f"{m}: {c}" for m, c in coverage.items())
            + ").",
            lambda: charts.percentile_distribution(_histograms(bundle, PERCENTILE_METRICS), coverage),
        ),
        "distributions": (
            "TTFT and ITL distributions from the HDR buckets ("
            + "; ".join(f"{m}: {coverage[m]}" for m in HISTOGRAM_METRICS)
            + ").",
            lambda: charts.latency_histograms(_histograms(bundle, HISTOGRAM_METRICS)),
        ),
        "throughput": (
            "Sessions connected, turns per second and output tokens per second over the whole run.",
            lambda: charts.throughput_over_time(frame, marks),
        ),
        "client": (
            "Load generator per second: greenlet scheduling lag p99 and CPU, its longest stall and its wait"
            " for a core, with their thresholds, and the machine's CPU; untrusted seconds hatched.",
            lambda: charts.client_over_time(
                frame,
                thresholds.get("lag_p99_ms"),
                thresholds.get("cpu_percent"),
                marks,
                untrusted,
                {
                    "lag_max_ms": thresholds.get("untrusted_lag_max_ms"),
                    "runq_delay_ms": thresholds.get("untrusted_runq_delay_ms"),
                },
            ),
        ),
        "target": ("Target resident memory and CPU over the whole run.", lambda: charts.target_over_time(frame, marks)),
    }
    if baseline is not None:
        makers["baseline_percentiles"] = (
            "Percentile curves of the current run (solid) and the baseline (dashed), each over its reported phases.",
            lambda: charts.baseline_percentiles(
                _histograms(bundle, PERCENTILE_METRICS), _histograms(baseline, PERCENTILE_METRICS)
            ),
        )
    built: dict[str, ChartImage] = {}
    conversation = conversation_charts(bundle.summary)
    by_input = ttft_by_input_chart(bundle.summary)
    if by_input is not None:
        conversation = {**conversation, INPUT_CHART: by_input}
    for name in CHART_NAMES:
        if name in makers:
            caption, make = makers[name]
            png = make()
            if png is not None:
                built[name] = ChartImage(name, caption, png)
        elif name in conversation:
            built[name] = conversation[name]
    return built


def report_html(
    bundle: Bundle,
    verdict: Verdict | None,
    built: dict[str, ChartImage],
    baseline: Bundle | None = None,
    comparisons: list[Comparison] | None = None,
) -> str:
    """The whole page: a partial run's banner, then sections in order: throughput, verdict, baseline, config,
    phases, events, latency, conversations (when the run held any), throughput, self-check, target,
    bytes on the wire (when the summary has them), definitions, token counting, warnings."""
    summary = bundle.summary
    result = outcome(summary, bundle.partial_reason if bundle.partial else None, verdict, comparisons)
    sections: list[str | None] = [partial_banner(bundle), headline_section(summary), verdict_section(result, verdict)]
    if baseline is not None and comparisons is not None:
        warnings = comparability_warnings(summary, baseline.summary)
        sections.append(baseline_section(comparisons, warnings, str(baseline.root), built.get("baseline_percentiles")))
    latency_charts = [
        built[n] for n in ("latency_over_time", "percentiles", "distributions", INPUT_CHART) if n in built
    ]
    sections += [
        config_section(summary),
        phases_section(bundle),
        events_section(bundle),
        latency_section(bundle, latency_charts),
        conversation_section(summary, built),
        throughput_section(summary, built.get("throughput")),
        self_check_section(summary, built.get("client")),
        target_section(summary, built.get("target")),
        wire_section(summary),
        definitions_section(),
        tokens_section(summary),
        warnings_section([str(w) for w in summary.get("warnings", [])] if summary is not None else []),
    ]
    known: Summary | dict[str, Any] = summary if summary is not None else {}
    scenario = str(known.get("scenario") or "unknown scenario")
    meta = (
        f"{result.word} - bundle {bundle.root} - started {format_time(known.get('started_at'))}, "
        f"ended {format_time(known.get('ended_at'))} - rtbench {known.get('rtbench_version', '?')}"
    )
    return page(f"rtbench report: {scenario}", meta, [s for s in sections if s is not None])


def _spec(slo_spec: SloSpec | str | Path | None, bundle: Bundle) -> SloSpec:
    if isinstance(slo_spec, SloSpec):
        return slo_spec
    if slo_spec is not None:
        return load_slo_file(slo_spec)
    return spec_from_summary(bundle.summary, bundle.root)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write(bundle: Bundle, html: str, built: dict[str, ChartImage]) -> Path:
    chart_dir = bundle.root / CHART_DIR
    try:
        chart_dir.mkdir(exist_ok=True)
        for name in CHART_NAMES:
            path = chart_dir / f"{name}.png"
            if name in built:
                _write_atomically(path, built[name].png)
            else:
                path.unlink(missing_ok=True)  # left by an earlier rendering
        report = bundle.root / REPORT_FILE
        _write_atomically(report, html.encode("utf-8"))
    except OSError as exc:
        raise BundleError(f"cannot write the report into {bundle.root}: {exc.strerror or exc}") from exc
    return report


def read_bundle(bundle_dir: str | Path) -> Bundle:
    """The bundle as the report sees it: its summary rebuilt from the other files when a killed
    run left none (`rtbench.report.rebuild`)."""
    return with_rebuilt_summary(load_bundle(bundle_dir))


def render_report(
    bundle_dir: str | Path, baseline_dir: str | Path | None = None, slo_spec: SloSpec | str | Path | None = None
) -> Path:
    """Render `bundle_dir`'s report and return the path of its report.html.

    `slo_spec` is a parsed spec or an SLO/scenario TOML file; by default the SLOs stored in the
    bundle's scenario are used. With `baseline_dir`, the report compares the two bundles with the
    spec's regression tolerances. Raises BundleError or ConfigError with a one-line message.
    """
    bundle = read_bundle(bundle_dir)
    spec = _spec(slo_spec, bundle)
    verdict = evaluate(spec, bundle.summary) if spec.rules else None
    baseline = read_bundle(baseline_dir) if baseline_dir is not None else None
    comparisons = compare(bundle.summary, baseline.summary, spec.tolerances) if baseline is not None else None
    built = build_charts(bundle, baseline)
    return _write(bundle, report_html(bundle, verdict, built, baseline, comparisons), built)
