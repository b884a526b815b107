from __future__ import annotations

from pathlib import Path

from rtbench.bundle.paths import BundlePaths


def test_file_names(tmp_path: Path) -> None:
    paths = BundlePaths(tmp_path)
    assert paths.summary == tmp_path / "summary.json"
    assert paths.timeseries == tmp_path / "timeseries.csv"
    assert paths.hlog("ttft") == tmp_path / "ttft.hlog"
    assert paths.hlog_metrics() == []
    for name in ("ttft.hlog", "e2e.hlog", "notes.txt"):
        (tmp_path / name).write_text("")
    assert paths.hlog_metrics() == ["e2e", "ttft"]
