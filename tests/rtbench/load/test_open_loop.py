"""Open-loop arrivals against a server that stalls: coordinated omission, shown and avoided.

The reference server stalls all sending for 1 s every 10 s (TTFT 20 ms otherwise). In open loop
at a steady rate, 10% of turns are planned inside a stall; a turn planned t seconds into it gets
its first token when the stall ends, 1 - t + 0.02 s after its planned time. The slowest 1% of all
turns are the first tenth of the stalled ones, so p99 = 1 - 0.1 + 0.02 = 0.92 s. Fifty users at
2 turns/s each keep the backlog a stall leaves per session to about two turns.

In closed loop, a user in a stall has one turn stuck and sends nothing else: with a 20 ms think
time each user completes about 200 turns per 10 s and one of them is stalled (0.5%), so p99 stays
near the unstalled 20 ms and the stall hides beyond it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.runs import run_scenario, scenario_text

from rtbench.local_server import LocalServer

STALL_FLAGS = ("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "3", "--stall-ms", "1000", "--stall-every-s", "10")
PREDICTED_P99_MS = 1000 * (1 - 0.1) + 20

#: Turn counts and the late share depend on the load process getting the CPU on time.
pytestmark = pytest.mark.quiet


@pytest.fixture(scope="module")
def stalling_server():
    with LocalServer(STALL_FLAGS) as server:
        yield server


def test_open_loop_shows_the_stall_at_the_predicted_p99(stalling_server: LocalServer, tmp_path: Path) -> None:
    body = scenario_text(stalling_server.ws_url, users=50, duration="20s", think_time="1s")
    body = body.replace("[prompts]", 'arrival = "constant"\nrate = 100\n[prompts]')
    result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stderr
    ttft = summary["metrics"]["ttft"]
    # +-100 ms: the 20 s steady window holds two stalls, but one can straddle its edges; runs on this
    # VM gave p99 836, 920 and 1000 ms. Closed loop, below, stays under 100 ms: the stall still shows.
    assert ttft["p99"] == pytest.approx(PREDICTED_P99_MS, abs=100), ttft
    assert ttft["p50"] < 30
    assert summary["config"]["arrival"] == "constant"
    delivery = summary["delivery"]
    # about 100 turns/s over 20 s, and ~10% planned inside a stall start late; sanity bounds only (the
    # p99 above is the test): three fresh-clone runs in a row had 2,261 to 2,367 turns, up to 51% late
    assert 1600 <= delivery["turns_completed"] <= 2600, delivery
    assert 0.05 <= delivery["turns_late"] / delivery["turns_completed"] <= 0.6, delivery


def test_closed_loop_hides_the_stall_beyond_p99(stalling_server: LocalServer, tmp_path: Path) -> None:
    body = scenario_text(stalling_server.ws_url, users=10, duration="20s", think_time="0.02s")
    result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stderr
    ttft = summary["metrics"]["ttft"]
    assert ttft["p99"] < 100, ttft
    assert ttft["max"] > 500  # the stall happened: one turn per user waited it out
    assert summary["delivery"]["turns_late"] == 0
