"""The crash timeline: events listed and marked on the time charts. Synthetic events first, then
real runs where a worker process and the target are killed by PID mid-run."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import signal
import time
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
from support.chromium import headless_chromium, open_page
from support.live_runs import output, start_run, stop_run, wait_for_steady, worker_pids

from rtbench.bundle.events import RunEvent
from rtbench.local_server import LocalServer
from rtbench.report import render_report
from rtbench.report.charts import EVENT_COLOURS
from rtbench.report.frames import load_bundle
from rtbench.report.render import CHART_DIR
from rtbench.report.timeline import event_marks, events_section, partial_banner

SERVER_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
#: rtbench checks workers and the target once a tick (1 s); the event is stamped when seen.
DETECTION_S = 2.5

EVENTS_STATE = """(() => ({
  rows: Array.from(document.querySelectorAll('#events-table tbody tr')).map(tr => Array.from(tr.cells).map(c => c.textContent)),
  images: Array.from(document.images).map(img => [img.complete, img.naturalWidth]),
}))()"""


def _near(png: Path, colour: str, tolerance: float = 0.12) -> int:
    pixels = mpimg.imread(io.BytesIO(png.read_bytes()), format="png")
    rgb = np.array([int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
    return int((np.abs(pixels[..., :3] - rgb).max(axis=-1) < tolerance).sum())


def test_marks_sit_at_seconds_since_the_first_whole_second(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    origin = float(loaded.timeseries["time"].iloc[0])  # second 0 of the synthetic run
    loaded = dataclasses.replace(loaded, events=(RunEvent(origin + 7.25, "worker_crash", "worker process 7 exited"),))
    assert event_marks(loaded) == [(7.25, "worker_crash")]
    html = events_section(loaded)
    assert 'id="events-table"' in html and "<td>worker_crash</td><td>worker process 7 exited</td>" in html
    assert "+7.250 s" in html  # the synthetic run started on a whole second


def test_no_events_and_no_banner_for_a_clean_run(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    assert loaded.events == () and event_marks(loaded) == []
    assert "No events" in events_section(loaded)
    assert partial_banner(loaded) == ""


def _check_report(out: Path, kind: str, killed_at: float, detail: str) -> None:
    summary = json.loads((out / "summary.json").read_text())
    events = [e for e in summary["events"] if e["kind"] == kind]
    assert len(events) == 1, summary["events"]
    assert killed_at <= events[0]["t"] <= killed_at + DETECTION_S, (events[0], killed_at)
    assert detail in events[0]["detail"]
    on_disk = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    assert on_disk == summary["events"]  # written as they happened, the same as the summary's

    report = render_report(out)
    colour = EVENT_COLOURS[kind]
    for chart in ("latency_over_time", "throughput"):
        assert _near(out / CHART_DIR / f"{chart}.png", colour) > 100, chart
    with headless_chromium() as devtools:
        state = devtools.evaluate(EVENTS_STATE, open_page(devtools, report.as_uri()))
        assert devtools.errors() == []
    assert [row[2:] for row in state["rows"] if row[2] == kind] == [[kind, events[0]["detail"]]]
    assert all(complete and width > 0 for complete, width in state["images"])


def test_a_killed_worker_is_on_the_timeline(tmp_path: Path) -> None:
    out = tmp_path / "worker"
    with LocalServer(SERVER_FLAGS) as server:
        proc = start_run(
            out,
            server.ws_url,
            "--users",
            "10",
            "--spawn-rate",
            "10",
            "--duration",
            "8s",
            "--think-time",
            "200ms",
            "--workers",
            "2",
        )
        try:
            victim = worker_pids(proc)[0]
            wait_for_steady(out, proc, seconds=2)
            killed_at = time.time()
            os.kill(victim, signal.SIGKILL)
        finally:
            code = stop_run(proc)
    assert code == 3, output(out)  # the run goes on with the other worker, and ends partial
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial_reason"] == f"lost 1 of 2 workers: worker process {victim}"
    _check_report(out, "worker_crash", killed_at, str(victim))


def test_a_killed_target_is_on_the_timeline(tmp_path: Path) -> None:
    out = tmp_path / "target"
    with LocalServer(SERVER_FLAGS) as server:
        pid = server.pid
        proc = start_run(
            out,
            server.ws_url,
            "--users",
            "10",
            "--spawn-rate",
            "10",
            "--duration",
            "30s",
            "--think-time",
            "200ms",
            "--target-pid",
            str(pid),
        )
        try:
            wait_for_steady(out, proc, seconds=2)
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            server.stop()  # reaps it
            code = stop_run(proc)
        finally:
            stop_run(proc)
    assert code == 3, output(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["partial_reason"] == "target process exited"
    _check_report(out, "target_crash", killed_at, f"target process {pid}")
