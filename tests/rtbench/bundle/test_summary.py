from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rtbench.bundle.summary import SCHEMA_VERSION, read_summary, write_summary
from rtbench.errors import BundleError


def test_round_trip_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    data = {"scenario": "demo", "partial": False, "metrics": {"ttft": {"count": 3, "p99": 1.5}}}
    write_summary(path, data)
    back = read_summary(path)
    assert back == {"schema_version": SCHEMA_VERSION, **data}
    assert list(back)[0] == "schema_version"
    assert read_summary(tmp_path) == back  # a bundle directory works too
    assert os.listdir(tmp_path) == ["summary.json"]  # no temporary file left


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, {"target": {"cpu_percent_max": float("nan"), "rss": float("inf")}})
    assert read_summary(path)["target"] == {"cpu_percent_max": None, "rss": None}
    assert "NaN" not in path.read_text()


def test_a_failing_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, {"scenario": "old"})
    before = path.read_bytes()
    with pytest.raises(BundleError, match="not JSON"):
        write_summary(path, {"scenario": "new", "oops": object()})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["summary.json"]


def test_an_unwritable_directory_is_a_bundle_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "summary.json"
    with pytest.raises(BundleError, match="cannot write"):
        write_summary(missing, {"scenario": "x"})


def test_a_failure_during_replace_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, {"scenario": "old"})

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(BundleError, match="No space left"):
        write_summary(path, {"scenario": "new"})
    monkeypatch.undo()
    assert read_summary(path)["scenario"] == "old"
    assert os.listdir(tmp_path) == ["summary.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no result summary"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "does not hold a JSON object"),
        (json.dumps({"scenario": "x"}), "schema_version None"),
        (json.dumps({"schema_version": 99}), "schema_version 99"),
    ],
)
def test_read_errors_are_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "summary.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BundleError, match=message) as info:
        read_summary(path)
    assert "\n" not in str(info.value)
