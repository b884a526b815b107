"""Back-to-back turns (think time 0, the closed loop of LLM benchmarks) on every transport, against
the real reference server: no turn fails because the previous response had not ended yet, or
because the server closed the keep-alive connection after it (as llama.cpp's server does).
"""

from __future__ import annotations

import pytest
from support.runs import run_scenario, scenario_text

from rtbench.local_server import LocalServer

FLAGS = ("--ttft-ms", "20", "--itl-ms", "5", "--tokens", "10")


def no_failed_turn(summary: dict) -> dict:
    d = summary["delivery"]
    assert sum(d["failed"].values()) == 0, d
    assert d["turns_sent"] == d["turns_completed"] + d["turns_cancelled"], d
    assert d["turns_completed"] >= 100, d  # ~80 ms a turn, 5 users, 3 s of steady state
    return d


@pytest.mark.parametrize("close_after_stream", [False, True], ids=["keep-alive", "closed-after-each-response"])
def test_openai_chat_over_http_with_no_think_time(tmp_path, close_after_stream: bool) -> None:
    flags = (*FLAGS, "--close-after-stream") if close_after_stream else FLAGS
    with LocalServer(flags) as server:
        url = f"{server.base_url}/v1/chat/completions"
        body = scenario_text(url, 'protocol = "openai-chat"', users=5, duration="3s", think_time="0s")
        result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    d = no_failed_turn(summary)
    if close_after_stream:  # every turn went on a new connection, and none was counted as failed
        assert d["connects"] >= d["turns_completed"], d
        assert d["connect_failed"] == 0, d


def test_websocket_with_no_think_time(tmp_path) -> None:
    with LocalServer(FLAGS) as server:
        body = scenario_text(server.ws_url, users=5, duration="3s", think_time="0s")
        result, summary = run_scenario(tmp_path, body)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    no_failed_turn(summary)
