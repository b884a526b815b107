"""Open loop times every turn from its planned send, and never from a moment after the actual send.

The reference server answers 50 ms after the prompt arrives, so no turn can honestly measure a
TTFT below 50 ms. A turn sent before its planned time (the first turn runs as soon as the user
starts; a gevent timer can wake early) would be timed from after its send: below 50 ms, or below
0 and clamped. Checked in each phase: the ramp (where the first turns go), steady and stop.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.runs import run_scenario, scenario_text

from rtbench.local_server import LocalServer

TTFT_MS = 50.0
OPEN_LOOP = 'arrival = "constant"\nrate = 5\n[prompts]'


def _open_loop_run(tmp_path: Path) -> dict[str, Any]:
    with LocalServer(("--ttft-ms", str(int(TTFT_MS)), "--itl-ms", "10", "--tokens", "5")) as server:
        body = scenario_text(server.ws_url, users=10, duration="6s", think_time="1s")
        result, summary = run_scenario(tmp_path, body.replace("[prompts]", OPEN_LOOP), "--seed", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    return summary


def test_no_turn_is_timed_from_after_its_send_in_any_phase(tmp_path: Path) -> None:
    summary = _open_loop_run(tmp_path)
    assert all(count == 0 for count in summary["clamped"].values()), summary["clamped"]
    for phase, metrics in summary["metrics_by_phase"].items():
        for metric in ("ttft", "e2e"):
            if metric in metrics:
                assert metrics[metric]["min"] >= TTFT_MS, (phase, metric, metrics[metric])
    assert summary["metrics_by_phase"]["ramp"]["ttft"]["count"] > 0  # the first turns were checked


@pytest.mark.quiet
def test_ttft_is_the_injected_value_in_every_phase(tmp_path: Path) -> None:
    summary = _open_loop_run(tmp_path)
    for phase, metrics in summary["metrics_by_phase"].items():
        if "ttft" in metrics:
            assert metrics["ttft"]["p50"] == pytest.approx(TTFT_MS + 2, abs=3), (phase, metrics["ttft"])
