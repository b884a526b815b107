"""`rtbench demo --netem`: the demo behind a delayed wire, torn down afterwards; bad specs in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rtbench.cli.main import app

runner = CliRunner()


def test_bad_netem_spec_is_one_line() -> None:
    result = runner.invoke(app, ["demo", "--netem", "delay=fast"])
    assert result.exit_code == 3
    assert result.output.strip() == "error: --netem delay: expected a duration such as 20ms, got 'fast'"


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_demo_behind_20ms_of_netem(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    cmd = [
        sys.executable,
        "-m",
        "rtbench.cli",
        "demo",
        "--duration",
        "3s",
        "--out",
        str(out),
        "--netem",
        "delay=20ms,jitter=0ms,loss=0%",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stdout, _ = proc.communicate(timeout=180)
    if proc.returncode == 3 and "error: netem:" in stdout:
        pytest.skip(stdout.strip().splitlines()[-1])
    # 0, or 1 when the demo's TTFT p95 < 100 ms breaches: 50 ms + 40 ms of round trips leaves 10 ms
    assert proc.returncode in (0, 1), stdout
    assert "netem: delay 20 ms, jitter 0 ms, loss 0%, server side via " in stdout
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert 68.0 <= metrics["ttft"]["p50"] <= 76.0, metrics["ttft"]  # the server's 50 ms + 20 ms down
    assert 40.0 <= metrics["connect"]["p50"] <= 50.0, metrics["connect"]  # two round trips
    assert (out / "report.html").is_file()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"rtb{proc.pid}" not in namespaces  # torn down on the way out
