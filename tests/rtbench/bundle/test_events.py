"""events.jsonl: appended and fsynced per event, read back in time order, a cut last line dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtbench.bundle.events import EventLog, RunEvent, events_from_summary, read_events
from rtbench.errors import BundleError


def test_events_are_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.write(RunEvent(1_800_000_012.5, "worker_crash", "worker process 41 exited"))
    log.write(RunEvent(1_800_000_003.25, "interrupted", "Ctrl-C"))
    # read while the log is still open, in time order
    assert read_events(path) == [
        RunEvent(1_800_000_003.25, "interrupted", "Ctrl-C"),
        RunEvent(1_800_000_012.5, "worker_crash", "worker process 41 exited"),
    ]
    log.close()
    assert json.loads(path.read_text().splitlines()[0]) == {
        "t": 1_800_000_012.5,
        "kind": "worker_crash",
        "detail": "worker process 41 exited",
    }


def test_no_file_means_no_events(tmp_path: Path) -> None:
    assert read_events(tmp_path / "events.jsonl") == []


def test_a_cut_last_line_is_dropped_but_a_bad_earlier_one_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    whole = '{"t": 5.0, "kind": "target_crash", "detail": "target process 9 exited"}\n'
    path.write_text(whole + '{"t": 6.0, "kind": "work')
    assert read_events(path) == [RunEvent(5.0, "target_crash", "target process 9 exited")]
    path.write_text('{"t": "soon"}\n' + whole)
    with pytest.raises(BundleError, match="line 1"):
        read_events(path)


def test_summary_events_skip_malformed_entries() -> None:
    summary = {"events": [{"t": 3, "kind": "b"}, "junk", {"kind": "no time"}, {"t": 1.5, "kind": "a", "detail": "x"}]}
    assert events_from_summary(summary) == [RunEvent(1.5, "a", "x"), RunEvent(3.0, "b", "")]
    assert events_from_summary({}) == []
