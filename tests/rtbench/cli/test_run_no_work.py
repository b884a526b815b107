"""A run that did no work exits 3 with one line, with SLOs or not: real `rtbench run` processes
against a reference server that wants another bearer token (401 on every connect) or fails every
turn, and `rtbench check` of such a bundle."""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.runs import RTBENCH, run_scenario, scenario_text

from rtbench.local_server import LocalServer


def _verdict_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    return [line for line in result.stdout.splitlines() if line.startswith("INVALID")]


def test_a_wrong_bearer_token_is_no_session_connected(tmp_path: Path) -> None:
    with LocalServer(("--token", "right")) as server:
        body = scenario_text(server.ws_url, 'headers = { Authorization = "Bearer wrong" }', duration="3s")
        result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 3, result.stdout + result.stderr
    [line] = _verdict_lines(result)
    assert "no session connected: " in line and "connection attempts failed (handshake " in line, line
    assert summary["sessions"]["peak"] == 0 and summary["delivery"]["connect_failed_by_kind"]["handshake"] > 0


def test_every_turn_failed_is_no_turn_completed_and_check_says_so_too(tmp_path: Path) -> None:
    with LocalServer(("--error-rate", "1", "--ttft-ms", "5", "--tokens", "3")) as server:
        result, summary = run_scenario(tmp_path, scenario_text(server.ws_url, duration="2s"))
    assert result.returncode == 3, result.stdout + result.stderr
    sent = summary["delivery"]["turns_sent"]
    assert sent > 0 and summary["delivery"]["turns_completed"] == 0 and summary["partial"] is False
    [line] = _verdict_lines(result)
    assert line == f"INVALID: no turn completed of {sent:,} sent (failed: error {sent:,})"
    # `rtbench check` on the bundle: no SLOs to check, and still the verdict, not "nothing to check"
    checked = subprocess.run([*RTBENCH, "check", str(tmp_path / "bundle")], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 3 and _verdict_lines(checked) == [line], checked.stdout + checked.stderr
    # and with an SLO that the failed turns breach, the run did no work all the same: 3, not 1
    slo = tmp_path / "slo.toml"
    slo.write_text('[slo]\ndelivery = ">= 99%"\n')
    cmd = [*RTBENCH, "check", str(tmp_path / "bundle"), "--slo", str(slo)]
    gated = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert gated.returncode == 3, gated.stdout + gated.stderr
    assert _verdict_lines(gated) == [f"{line}; 1 of 1 SLO rule breached"]
