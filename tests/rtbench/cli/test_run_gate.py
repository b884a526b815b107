"""`rtbench run` gates itself: real runs against the reference server, slowed by its latency model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rtbench.local_server import LocalServer

RTBENCH = [sys.executable, "-m", "rtbench.cli"]
LOAD = ("--users", "100", "--spawn-rate", "100", "--duration", "8s", "--think-time", "300ms..700ms")


def rtbench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RTBENCH, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def slo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slo") / "slo.toml"
    path.write_text('[slo]\nttft = ["p95 < 100ms"]\ne2e = ["p99 < 1s"]\ndelivery = [">= 99.9%"]\n')
    return path


@pytest.fixture(scope="module")
def baseline(slo_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("base") / "bundle"
    with LocalServer(("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")) as server:
        result = rtbench("run", "--target", server.ws_url, "--out", str(out), "--slo", str(slo_file), *LOAD)
    return out, result


def test_a_passing_run_exits_0_with_goodput(baseline: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, result = baseline
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["slo"]["ttft"] == ["p95 < 100ms"]
    goodput = summary["goodput"]
    assert goodput["limits_ms"] == {"ttft": 100.0, "e2e": 1000.0}
    assert goodput["ratio"] == pytest.approx(1.0, abs=0.01)
    assert goodput["per_s"] > 50


def test_a_breached_slo_exits_1(baseline: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    tight = tmp_path / "tight.toml"
    tight.write_text('[slo]\nttft = ["p50 < 40ms"]\n')
    result = rtbench("check", str(baseline[0]), "--slo", str(tight))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ttft" in result.stdout


def test_a_30_percent_slower_server_fails_the_baseline_with_2(
    baseline: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    base, _ = baseline
    out = tmp_path / "slow"
    # SLOs this slower server meets even on a busy machine: a breach (exit 1) would hide the regression
    loose = tmp_path / "loose.toml"
    loose.write_text('[slo]\nttft = ["p95 < 10s"]\n')
    with LocalServer(("--ttft-ms", "65", "--itl-ms", "13", "--tokens", "20")) as slow:
        result = rtbench(
            "run",
            "--target",
            slow.ws_url,
            "--out",
            str(out),
            "--baseline",
            str(base),
            "--max-regression",
            "connect=off",
            "--slo",
            str(loose),
            *LOAD,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "regress" in (result.stdout + result.stderr).lower()


def test_failure_line_names_kinds_and_commonest_codes() -> None:
    from rtbench.cli.render import failure_line as _failure_line

    summary = {
        "delivery": {"failed": {"timeout": 2, "error": 12, "incomplete": 0, "seq_gap": 0, "empty": 0}},
        "counters": {"error_frame_http_404": 10, "error_frame_rate_limited": 2, "turns_sent": 30},
    }
    assert _failure_line(summary) == "timeout 2, error 12 (error codes: http_404 10, rate_limited 2)"
    assert _failure_line({"delivery": {"failed": {"timeout": 0}}, "counters": {}}) == ""


def test_failed_connects_are_reported_by_kind(tmp_path: Path) -> None:
    """A server full at 2 sessions refuses the other users' upgrades (503): handshake failures."""
    out = tmp_path / "full"
    with LocalServer(("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "3", "--max-sessions", "2")) as full:
        result = rtbench(
            "run",
            "--target",
            full.ws_url,
            "--out",
            str(out),
            "--users",
            "4",
            "--spawn-rate",
            "4",
            "--duration",
            "3s",
            "--think-time",
            "100ms",
        )
    delivery = json.loads((out / "summary.json").read_text())["delivery"]
    assert delivery["connect_failed"] > 0, result.stdout + result.stderr
    assert delivery["connect_failed_by_kind"] == {"handshake": delivery["connect_failed"]}
    assert f"failed connects: handshake {delivery['connect_failed']:,}" in result.stderr
