"""A killed run's bundle (no summary.json) rebuilt for the report: synthetic bundles, then a real
`rtbench run` killed with SIGKILL mid-run and its report opened in headless Chromium."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

from support.chromium import headless_chromium, open_page
from support.live_runs import start_run, stop_run, wait_for_steady

from rtbench.bundle.summary import write_summary
from rtbench.local_server import LocalServer
from rtbench.metrics.histogram import summarize_ms
from rtbench.report import render_report
from rtbench.report.frames import load_bundle
from rtbench.report.rebuild import rebuild_summary, with_rebuilt_summary

#: The reference server's fixed latency model: TTFT 50 ms, ITL 10 ms, 20 tokens.
SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")

PAGE_STATE = """(() => ({
  banner: (document.getElementById('partial-banner') || {}).textContent || null,
  firstInMain: document.querySelector('main > :not(h1):not(.meta)').id,
  badge: (document.getElementById('verdict-badge') || {}).textContent || null,
  slo: Array.from(document.querySelectorAll('#slo-table tbody tr')).map(tr => [tr.cells[0].textContent, tr.className]),
  images: Array.from(document.images).map(img => [img.complete, img.naturalWidth]),
}))()"""


def _killed(bundle: Path) -> dict:
    summary = json.loads((bundle / "summary.json").read_text())
    (bundle / "summary.json").unlink()
    return summary


def test_rebuilt_figures_match_the_summary_they_replace(bundle: Path) -> None:
    complete = _killed(bundle)
    rebuilt = rebuild_summary(load_bundle(bundle))
    assert rebuilt["partial"] is True and rebuilt["partial_reason"].startswith("killed")
    assert rebuilt["metrics"] == complete["metrics"]  # the same intervals, the same coverage
    assert rebuilt["metrics_by_phase"] == complete["metrics_by_phase"]
    assert {k: rebuilt["delivery"][k] for k in ("turns_sent", "turns_completed", "delivery_ratio")} == {
        k: complete["delivery"][k] for k in ("turns_sent", "turns_completed", "delivery_ratio")
    }
    assert rebuilt["sessions"] == complete["sessions"]
    assert rebuilt["phases"] == complete["phases"]  # whole seconds in the synthetic bundle


def test_run_file_supplies_config_and_slos(bundle: Path) -> None:
    complete = _killed(bundle)
    run = {k: complete[k] for k in ("rtbench_version", "scenario", "started_at", "config", "versions", "pid")}
    write_summary(bundle / "run.json", run)
    loaded = with_rebuilt_summary(load_bundle(bundle))
    assert loaded.rebuilt and loaded.summary["config"] == complete["config"]
    assert loaded.summary["scenario"] == "synthetic" and loaded.summary["started_at"] == complete["started_at"]
    html = render_report(bundle).read_text(encoding="utf-8")
    assert 'id="slo-table"' in html and "<td>ttft p95</td>" in html  # the scenario's SLOs, judged
    assert 'class="badge badge-partial">PARTIAL<' in html  # ... but the badge stays PARTIAL


def test_a_complete_bundle_is_not_rebuilt(bundle: Path) -> None:
    loaded = with_rebuilt_summary(load_bundle(bundle))
    assert not loaded.rebuilt and loaded.summary["partial"] is False


def test_include_ramp_in_run_file_widens_the_rebuilt_coverage(make_bundle: Callable[..., Path]) -> None:
    bundle = make_bundle()
    complete = _killed(bundle)
    write_summary(bundle / "run.json", {"config": {**complete["config"], "include_ramp": True}})
    loaded = load_bundle(bundle)
    rebuilt = rebuild_summary(loaded)
    total = sum(s["ttft"]["count"] for s in complete["metrics_by_phase"].values())
    assert rebuilt["include_ramp"] is True and rebuilt["metrics"]["ttft"]["count"] == total


def test_a_run_killed_with_sigkill_renders_as_partial(tmp_path: Path) -> None:
    """The real thing: `rtbench run` SIGKILLed mid-run leaves intervals a report can render."""
    out = tmp_path / "killed"
    with LocalServer(SERVER_FLAGS) as server:
        proc = start_run(
            out,
            server.ws_url,
            "--users",
            "10",
            "--spawn-rate",
            "10",
            "--duration",
            "60s",
            "--think-time",
            "200ms",
            "--target-pid",
            str(server.pid),
        )
        try:
            wait_for_steady(out, proc, seconds=3)
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            code = stop_run(proc)
    assert code == -signal.SIGKILL
    assert not (out / "summary.json").exists()
    assert {"run.json", "timeseries.csv", "ttft.hlog", "e2e.hlog", "events.jsonl"} <= {p.name for p in out.iterdir()}

    report = render_report(out)
    loaded = with_rebuilt_summary(load_bundle(out))
    assert loaded.rebuilt and loaded.summary["scenario"] == "live"
    ttft = loaded.summary["metrics"]["ttft"]
    assert ttft["count"] > 20 and 47.0 <= ttft["p50"] <= 56.0, ttft  # the server's 50 ms, rebuilt from .hlog
    histogram = loaded.histogram("ttft")
    assert histogram is not None and summarize_ms(histogram) == ttft
    assert loaded.summary["delivery"]["turns_completed"] > 20
    assert loaded.summary["delivery"]["delivery_ratio"] == 1.0

    with headless_chromium() as devtools:
        session = open_page(devtools, report.as_uri())
        state = devtools.evaluate(PAGE_STATE, session)
        errors = devtools.errors()
    assert errors == []
    assert state["firstInMain"] == "partial-banner"
    assert state["banner"].startswith("PARTIAL RUN: killed, no summary.json.")
    assert state["badge"] == "PARTIAL"
    assert state["slo"] == [["ttft p95", "pass"]]
    assert state["images"] and all(complete and width > 0 for complete, width in state["images"])


def test_by_turn_histograms_flow_through_the_bundle_writer_and_the_rebuild(tmp_path: Path) -> None:
    """The live writer logs each by-turn histogram in its own interval log (`ttft@10+.hlog`) and
    adds no time-series column for it; the report reads those logs as no metric of its own, and the
    rebuild of a killed run finds the live summary's `metrics_by_turn`."""
    from rtbench.bundle.timeseries import read_timeseries
    from rtbench.config import RunConfig
    from rtbench.load.bundle_writer import TIMESERIES_COLUMNS, BundleWriter, SummaryInputs
    from rtbench.metrics.aggregate import Aggregator
    from rtbench.metrics.breakdowns import by_turn_metric
    from rtbench.metrics.interval import Bucket
    from rtbench.metrics.phases import PhaseBoundaries

    start, out = 1_700_000_000, tmp_path / "bundle"
    boundaries = PhaseBoundaries(ramp_end=start + 1, stop_start=start + 5)
    writer = BundleWriter(out, RunConfig(scenario="turns"))
    aggregator = Aggregator(boundaries.phase_of, on_closed=lambda closed: writer.write_second(closed, {"sessions": 2}))
    writer.open(float(start))
    for second in range(start, start + 6):
        bucket = Bucket()
        for turn in (1, 2, 3, 11):
            for metric, value in (("ttft", 1000 * turn + second % 7), ("e2e", 9000 * turn)):
                bucket.histogram(metric).record(value)
                bucket.histogram(by_turn_metric(metric, turn)).record(value)
        bucket.count("turns_sent", 4)
        bucket.count("turns_completed", 4)
        aggregator.add(bucket.to_interval(second))
    aggregator.close_all()
    spans = boundaries.spans(float(start), float(start + 6))
    live = writer.finish(SummaryInputs(aggregator, spans, float(start), float(start + 6), None, None))

    assert {"ttft@1.hlog", "ttft@3.hlog", "ttft@10+.hlog", "e2e@10+.hlog"} <= {p.name for p in out.iterdir()}
    assert list(read_timeseries(out / "timeseries.csv")[0]) == list(TIMESERIES_COLUMNS)
    assert list(live["metrics"]) == ["ttft", "e2e"] and live["metrics"]["ttft"]["count"] == 16  # steady: 4 s
    assert list(live["metrics_by_turn"]) == ["1", "2", "3", "10+"]
    assert live["metrics_by_turn"]["10+"]["e2e"]["count"] == 4
    loaded = load_bundle(out)
    assert loaded.metrics() == ["ttft", "e2e"] and loaded.missing == ()
    (out / "ttft@2.hlog").rename(tmp_path / "ttft@2.hlog")
    assert load_bundle(out).missing == ("ttft@2.hlog",)  # a by-turn log is one of the bundle's files
    (tmp_path / "ttft@2.hlog").rename(out / "ttft@2.hlog")
    (out / "summary.json").unlink()
    rebuilt = rebuild_summary(load_bundle(out))
    assert rebuilt["metrics"] == live["metrics"]
    assert rebuilt["metrics_by_turn"] == live["metrics_by_turn"]
