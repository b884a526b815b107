from __future__ import annotations

from pathlib import Path

import pytest

from rtbench.bundle.timeseries import TimeseriesWriter, read_timeseries
from rtbench.errors import BundleError

COLUMNS = ["second", "phase", "turns_sent", "ttft_p99_ms"]


def test_rows_are_on_disk_as_soon_as_written(tmp_path: Path) -> None:
    path = tmp_path / "timeseries.csv"
    writer = TimeseriesWriter(path, COLUMNS)
    assert path.read_text().splitlines() == [",".join(COLUMNS)]
    writer.write({"second": 100, "phase": "ramp", "turns_sent": 3, "ttft_p99_ms": 12.5})
    writer.write({"second": 101, "phase": "steady", "turns_sent": 0, "ttft_p99_ms": None})
    # read while the writer is still open: both rows are there
    assert read_timeseries(path) == [
        {"second": 100, "phase": "ramp", "turns_sent": 3, "ttft_p99_ms": 12.5},
        {"second": 101, "phase": "steady", "turns_sent": 0, "ttft_p99_ms": None},
    ]
    writer.close()


def test_missing_columns_are_empty_and_unknown_ones_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    with TimeseriesWriter(path, COLUMNS) as writer:
        writer.write({"second": 1})
        with pytest.raises(ValueError):
            writer.write({"second": 2, "not_a_column": 1})
    assert read_timeseries(path) == [{"second": 1, "phase": None, "turns_sent": None, "ttft_p99_ms": None}]


def test_duplicate_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicate"):
        TimeseriesWriter(tmp_path / "t.csv", ["a", "b", "a"])


def test_a_row_cut_short_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("second,phase,turns_sent\n1,steady,4\n2,stea")
    assert read_timeseries(path) == [{"second": 1, "phase": "steady", "turns_sent": 4}]


def test_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="cannot read timeseries"):
        read_timeseries(tmp_path / "none.csv")
