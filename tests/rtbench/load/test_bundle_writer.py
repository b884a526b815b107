"""BundleWriter against golden summaries written by the code before the one builder (commit
95f61fa): the same seconds give the same summary.json, key for key and in the same order.

The golden files were made by `_write_run` below on that commit; the delivery keys added since
(`turns_resent`, `failed.empty`, `failed_reasons`, `unaccounted` and its warning) were added to them,
and their `self_check` and `warnings` were written again when the self-check gained its untrusted
seconds and run-queue figures. `config`, `versions` and `rtbench_version` are left out of the
comparison: they describe the installation, not the run.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.tmpfs import fill, tmpfs

from rtbench.bundle.paths import RESERVE_FILE
from rtbench.bundle.timeseries import read_timeseries
from rtbench.config import LoadConfig, RunConfig
from rtbench.errors import BundleError
from rtbench.load import bundle_writer
from rtbench.load.bundle_writer import BundleWriter, SummaryInputs
from rtbench.metrics.aggregate import Aggregator
from rtbench.metrics.interval import Bucket
from rtbench.metrics.phases import PhaseBoundaries

DATA = Path(__file__).parent / "data"
START = 1_700_000_000.0
INSTALLATION_KEYS = ("config", "versions", "rtbench_version")
COUNTERS = (
    "turns_sent",
    "turns_completed",
    "failed_timeout",
    "turns_good",
    "connect_ok",
    "connect_failed",
    "connect_failed_refused",
    "session_us",
    "error_frame_x",
    "token_count_usage",
    "tokens",
    "sessions_started",
    "session_drops",
    "resumes_ok",
    "downtime_us",
)


def _write_run(out: Path, include_ramp: bool, limits: bool) -> dict[str, Any]:
    """12 seconds (3 ramp, 6 steady, 3 stop) of random but seeded histograms, counters and gauges."""
    limits_ms = (("ttft", 100.0),) if limits else ()
    config = RunConfig(scenario="det", load=LoadConfig(include_ramp=include_ramp), turn_limits_ms=limits_ms)
    rng = random.Random(7)
    boundaries = PhaseBoundaries(ramp_end=START + 3, stop_start=START + 9)
    writer = BundleWriter(out, config)

    def gauges() -> dict[str, Any]:
        return {
            "sessions": 4,
            "users": 4,
            "client_cpu": rng.random() * 90,
            "client_rss_bytes": 80 * 2**20 + rng.randint(0, 2**20),
            "client_rss_idle_bytes": 60 * 2**20,
            "target_rss_bytes": 50 * 2**20 + rng.randint(0, 2**20),
            "target_cpu": rng.random() * 10,
            "target_sessions": 4,
            # added with the run-queue figures; constant, so the seeded draws above stay the old ones
            "client_runq_ms": 30.0,
            "client_runq_delay_ms": 0.2,
            "machine_cpu": 50.0,
        }

    aggregator = Aggregator(boundaries.phase_of, on_closed=lambda closed: writer.write_second(closed, gauges()))
    writer.open(START)
    writer.note_idle_target(type("Sample", (), {"rss_bytes": 45 * 2**20})())
    for second in range(int(START), int(START) + 12):
        bucket = Bucket()
        metrics = ("ttft", "e2e", "itl", "client_lag")
        metrics += ("connect" if second < START + 3 else "ttft", "recovery" if second % 4 == 0 else "e2e")
        for metric in metrics:
            for _ in range(rng.randint(1, 20)):
                bucket.histogram(metric).record(-5.0 if rng.random() < 0.02 else rng.random() * 20000)
        for counter in COUNTERS:
            if rng.random() < 0.7:
                bucket.count(counter, rng.randint(1, 50))
        aggregator.add(bucket.to_interval(second))
    aggregator.close_all()
    writer.event("interrupted", "x", t=START + 5)
    writer.warn("a warning")
    spans = boundaries.spans(START, START + 12)
    writer.finish(SummaryInputs(aggregator, spans, START, START + 12, None, "pid 1"))
    return json.loads((out / "summary.json").read_text())


def _run_figures(summary: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in summary.items() if k not in INSTALLATION_KEYS}, indent=2)


@pytest.mark.parametrize(("include_ramp", "limits"), [(False, True), (True, False)])
def test_summary_is_the_one_the_old_writer_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, include_ramp: bool, limits: bool
) -> None:
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    summary = _write_run(tmp_path / "bundle", include_ramp, limits)
    golden = json.loads((DATA / f"summary-ramp{int(include_ramp)}-limits{int(limits)}.json").read_text())
    assert _run_figures(summary) == _run_figures(golden)  # same keys, order and values
    assert summary["whole_run_metrics"] == ["connect", "recovery"]
    assert any(summary["clamped"].values()) and summary["warnings"][0] == "a warning"


# -- a disk that fills mid-run (a real tmpfs) -------------------------------------------------------


def _writing(out: Path) -> tuple[BundleWriter, Aggregator, Callable[[int, int], None]]:
    """A writer on `out` and `write(first, n)`, which closes n seconds of random histograms."""
    rng = random.Random(3)
    boundaries = PhaseBoundaries(ramp_end=START + 1, stop_start=START + 1000)
    writer = BundleWriter(out, RunConfig(scenario="full"))
    aggregator = Aggregator(boundaries.phase_of, on_closed=lambda closed: writer.write_second(closed, {"sessions": 2}))

    def write(first: int, n: int) -> None:
        for second in range(int(START) + first, int(START) + first + n):
            bucket = Bucket()
            for metric in ("ttft", "e2e", "itl", "client_lag"):
                for _ in range(200):
                    bucket.histogram(metric).record(rng.random() * 5_000_000)
            bucket.count("turns_sent", 5)
            bucket.count("turns_completed", 5)
            aggregator.add(bucket.to_interval(second))
            aggregator.close_through(second + 2)

    writer.open(START)
    return writer, aggregator, write


def _finish(writer: BundleWriter, aggregator: Aggregator) -> Any:
    aggregator.close_all()
    return writer.finish(SummaryInputs(aggregator, {}, START, START + 60, None, None))


def test_a_disk_that_fills_leaves_a_partial_bundle_with_its_summary(tmp_path: Path) -> None:
    with tmpfs(tmp_path, "1m") as disk:
        writer, aggregator, write = _writing(disk / "bundle")
        write(0, 3)
        assert writer.failure is None
        fill(disk)
        write(3, 40)  # every file grows past its last page within these seconds
        assert writer.failure is not None
        assert writer.failure.startswith("disk full: could not write ")
        assert writer.failure.endswith("(No space left on device)")
        summary = _finish(writer, aggregator)
        on_disk = json.loads((disk / "bundle" / "summary.json").read_text())
        assert on_disk["partial"] is True and on_disk["partial_reason"] == writer.failure == summary["partial_reason"]
        assert [e["kind"] for e in on_disk["events"]] == ["bundle_write_failed"]
        assert on_disk["delivery"]["turns_sent"] == 5 * 43  # the summary counts every second, written or not
        assert not (disk / "bundle" / RESERVE_FILE).exists()
        rows = read_timeseries(disk / "bundle" / "timeseries.csv")  # what was written is readable
        assert 3 <= len(rows) < 43


def test_when_not_even_the_summary_fits_one_line_says_what_the_bundle_keeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundle_writer, "SUMMARY_RESERVE_BYTES", 1)  # no room held for the summary
    with tmpfs(tmp_path, "1m") as disk:
        writer, aggregator, write = _writing(disk / "bundle")
        write(0, 3)
        fill(disk)
        write(3, 40)
        (disk / "bundle" / RESERVE_FILE).unlink()
        fill(disk, "filler-2")  # the page the reserve held too
        with pytest.raises(BundleError) as exc:
            _finish(writer, aggregator)
        message = str(exc.value)
        assert "\n" not in message
        assert message.startswith(f"{writer.failure}; cannot write {disk / 'bundle' / 'summary.json'}:")
        assert message.endswith(
            f"{disk / 'bundle'} keeps events.jsonl, run.json, timeseries.csv, 4 interval logs (.hlog)"
            " (`rtbench report` rebuilds a partial summary from them)"
        )
        assert sorted(p.name for p in (disk / "bundle").iterdir()) == [
            "client_lag.hlog",
            "e2e.hlog",
            "events.jsonl",
            "itl.hlog",
            "run.json",
            "timeseries.csv",
            "ttft.hlog",
        ]


def test_a_summary_left_in_the_directory_is_removed_when_the_run_starts(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text('{"schema_version": 1, "scenario": "older run"}')
    writer = BundleWriter(tmp_path, RunConfig(scenario="new"))
    writer.open(START)
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / RESERVE_FILE).stat().st_size == bundle_writer.SUMMARY_RESERVE_BYTES


def test_untrusted_seconds_go_through_the_time_series_and_the_rebuild(tmp_path: Path) -> None:
    """The figures of each second reach timeseries.csv, and the summary rebuilt from it judges
    the same seconds untrusted as the live one."""
    from rtbench.bundle.timeseries import read_timeseries
    from rtbench.report.frames import load_bundle
    from rtbench.report.rebuild import rebuild_summary

    out = tmp_path / "bundle"
    boundaries = PhaseBoundaries(ramp_end=START + 2, stop_start=START + 10)
    writer = BundleWriter(out, RunConfig(scenario="starved"))
    delays = {START + 4: 2.5, START + 7: 0.4}  # the client waited 2.5 ms for a core each run in second 4

    def gauges(second: int) -> dict[str, Any]:
        return {
            "sessions": 4,
            "client_cpu": 6.0,
            "client_runq_ms": 300.0 if second in delays else 10.123456,
            "client_runq_delay_ms": delays.get(second, 0.05),
            "machine_cpu": 99.87 if second in delays else 41.04,
        }

    aggregator = Aggregator(boundaries.phase_of, on_closed=lambda c: writer.write_second(c, gauges(c.second)))
    writer.open(START)
    for second in range(int(START), int(START) + 12):
        bucket = Bucket()
        bucket.count("turns_completed", 10 + second % 3)
        bucket.histogram("ttft").record(30_000.0)
        for lag_us in (900.0, 2_000.0, 140_000.0 if second == START + 8 else 3_000.0):  # a 140 ms stall in 8
            bucket.histogram("client_lag").record(lag_us)
        aggregator.add(bucket.to_interval(second))
    aggregator.close_all()
    live = writer.finish(SummaryInputs(aggregator, boundaries.spans(START, START + 12), START, START + 12, None, None))
    rows = read_timeseries(out / "timeseries.csv")
    assert [r["client_runq_delay_ms"] for r in rows[3:6]] == [0.05, 2.5, 0.05]
    assert rows[4]["client_runq_ms"] == 300.0 and rows[0]["client_runq_ms"] == 10.123
    assert rows[4]["machine_cpu"] == 99.9 and rows[8]["client_lag_max_ms"] == 140.031  # HDR's highest equivalent
    check = live["self_check"]
    assert check["untrusted_seconds"] == [4, 8] and check["untrusted_turns"] == 10 + 11
    assert check["saturated"] and check["starved"] and check["client_lag_max_ms"] == 140.031
    (out / "summary.json").unlink()
    rebuilt = rebuild_summary(load_bundle(out))
    assert rebuilt["self_check"] == {**check, "client_rss_per_session_kb": None}
