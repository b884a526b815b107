"""`rtbench run --abort-on RULE`: real runs stopped early once an SLO rule is lost, against a
reference server that fails a fifth of its turns or is too slow, and the one-line errors for
rules that cannot be aborted on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from support.runs import RTBENCH, run_scenario, scenario_text

from rtbench.local_server import LocalServer

SLO = """
[slo]
delivery = ">= 99%"
ttft = "p95 < 100ms"
sessions_peak = ">= 1"
"""
DURATION_S = 60


@pytest.mark.parametrize(
    ("flags", "rule", "label"),
    [
        (("--error-rate", "0.2", "--ttft-ms", "10", "--tokens", "5"), "delivery", "delivery"),
        (("--ttft-ms", "300", "--tokens", "5"), "ttft", "ttft p95"),
    ],
)
def test_a_lost_rule_stops_the_run_with_exit_1(tmp_path: Path, flags: tuple[str, ...], rule: str, label: str) -> None:
    with LocalServer(flags) as server:
        body = scenario_text(server.ws_url, users=10, duration=f"{DURATION_S}s", think_time="0.05s", tables=SLO)
        result, summary = run_scenario(tmp_path, body, "--abort-on", rule)
    text = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in text, text
    assert summary["partial"] is True and summary["partial_reason"] == f"aborted: {label} breached"
    [event] = [e for e in summary["events"] if e["kind"] == "aborted"]
    assert event["detail"].startswith(f"--abort-on: {label} is ") and "over the run so far" in event["detail"]
    assert summary["ended_at"] - summary["started_at"] < DURATION_S / 2  # stopped early
    assert f"FAIL: aborted: {label} breached" in result.stdout


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("itl", "error: --abort-on itl: no such SLO rule; the SLOs have delivery, ttft p95, sessions_peak"),
        ("sessions_peak", "error: --abort-on sessions_peak: sessions_peak is known only at the end of the run"),
    ],
)
def test_a_rule_that_cannot_be_aborted_on_is_one_line(tmp_path: Path, rule: str, message: str) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text("ws://127.0.0.1:1/ws", tables=SLO))
    cmd = [*RTBENCH, "run", str(scenario), "--abort-on", rule, "--out", str(tmp_path / "b")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().replace("\n", " ").startswith(message), result.stderr
    assert not (tmp_path / "b").exists()  # refused before any load
