"""Bytes on the wire and connection reuse through whole runs against the reference server, whose
own counters are the ground truth: permessage-deflate with `--deflate` (and declined without it),
and requests per HTTP connection on its SSE endpoint.

Runs are `rtbench run` subprocesses (importing Locust monkey-patches the standard library).
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.runs import run_scenario, scenario_text
from support.server import parse_metrics

from rtbench.local_server import LocalServer

FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")
PAIRS = {  # client counter -> the server's, as the server sees the same bytes
    "ws_wire_bytes_in": "rtref_bytes_sent_total",
    "ws_wire_bytes_out": "rtref_bytes_received_total",
    "ws_payload_bytes_in": "rtref_payload_bytes_sent_total",
    "ws_payload_bytes_out": "rtref_payload_bytes_received_total",
}


#: The closing handshake comes after a run's last count: each connection's close frame (2 bytes of
#: header, 4 of mask, 2 of status code) and the server's 4-byte answer reach only the server's counts.
CLOSE_OUT, CLOSE_IN = 8, 4


def assert_counts_match(counters: dict[str, int], truth: dict[str, float]) -> None:
    """The client's counts are the server's within 1%, once the closing handshake is added."""
    closing = {"ws_wire_bytes_out": CLOSE_OUT, "ws_wire_bytes_in": CLOSE_IN}
    connections = counters["connect_ok"]
    for ours, theirs in PAIRS.items():
        counted = counters[ours] + closing.get(ours, 0) * connections
        assert counted == pytest.approx(truth[theirs], rel=0.01), (ours, counters[ours], truth[theirs])


def server_counts(server: LocalServer, protocol: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{server.base_url}/metrics", timeout=5) as response:
        metrics = parse_metrics(response.read().decode())
    return {name: metrics.get(f'{name}{{protocol="{protocol}"}}', 0.0) for name in metrics if "{" not in name}


def deflate_run(tmp_path: Path, server: LocalServer, users: int = 4, duration: str = "3s") -> dict[str, Any]:
    result, summary = run_scenario(
        tmp_path, scenario_text(server.ws_url, 'compression = "deflate"', users=users, duration=duration)
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    return summary


def test_a_deflate_run_counts_the_bytes_the_server_counted(tmp_path: Path) -> None:
    with LocalServer(("--deflate", *FLAGS)) as server:
        summary = deflate_run(tmp_path, server)
        truth = server_counts(server, "native")
    counters, wire = summary["counters"], summary["wire"]
    assert_counts_match(counters, truth)
    assert counters["ws_deflate_negotiated"] == counters["connect_ok"] == 4
    assert wire["compression"] == "deflate" and summary["config"]["compression"] == {"method": "deflate"}
    assert wire["bytes_in_wire"] < 0.5 * wire["bytes_in_payload"]  # the steady state, compressed
    assert wire["bandwidth_saving"] > 0.5 and wire["requests_per_connection"] is None
    assert summary["delivery"]["delivery_ratio"] == 1.0 and summary["warnings"] == []


def test_a_server_without_deflate_runs_uncompressed_and_says_so(tmp_path: Path) -> None:
    with LocalServer(FLAGS) as server:
        summary = deflate_run(tmp_path, server)
        truth = server_counts(server, "native")
    counters, wire = summary["counters"], summary["wire"]
    assert_counts_match(counters, truth)
    assert wire["compression"] == "none" and counters["ws_deflate_declined"] == 4
    assert wire["bytes_in_wire"] > wire["bytes_in_payload"] and wire["bandwidth_saving"] < 0
    assert any("declined permessage-deflate on 4 of 4" in w for w in summary["warnings"]), summary["warnings"]


def test_an_http_run_reuses_connections_as_the_server_counted(tmp_path: Path) -> None:
    with LocalServer(FLAGS) as server:
        url = f"{server.base_url}/v1/chat/completions"
        body = scenario_text(url, 'protocol = "openai-chat"', users=3, duration="3s", think_time="0.1s")
        result, summary = run_scenario(tmp_path, body.replace("[load]\n", "[load]\ninclude_ramp = true\n"))
        truth = server_counts(server, "openai")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    counters, wire = summary["counters"], summary["wire"]
    assert counters["http_requests"] == truth["rtref_http_requests_total"] > 20
    assert counters["http_connections_opened"] == truth["rtref_http_connections_total"] == 3
    assert wire["requests_per_connection"] == round(truth["rtref_http_requests_total"] / 3, 6)
    assert wire["connection_reuse"] == round(1 - 3 / truth["rtref_http_requests_total"], 6)
    assert wire["compression"] == "none" and wire["bandwidth_saving"] is None


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_ttft_is_measured_as_exactly_with_deflate_as_without(tmp_path: Path) -> None:
    """The ground truth of the uncompressed streaming tests (TTFT 50 ms, ITL 10 ms), measured over
    compressed frames, within 3 ms of the injection and of the same run without compression."""
    medians = {}
    with LocalServer(("--deflate", *FLAGS)) as server:
        for name, line in (("deflate", 'compression = "deflate"'), ("none", "")):
            (tmp_path / name).mkdir()
            body = scenario_text(server.ws_url, line, users=10, duration="4s", think_time="0.2s")
            result, summary = run_scenario(tmp_path / name, body)
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr
            assert summary["wire"]["compression"] == name
            m = summary["metrics"]
            assert 47.0 <= m["ttft"]["p50"] <= 53.0, (name, m["ttft"])
            assert 8.0 <= m["itl"]["p50"] <= 12.0, (name, m["itl"])
            assert 237.0 <= m["e2e"]["p50"] <= 243.0, (name, m["e2e"])
            assert m["ttft"]["count"] >= 50 and summary["delivery"]["delivery_ratio"] == 1.0
            medians[name] = m["ttft"]["p50"]
    assert abs(medians["deflate"] - medians["none"]) <= 3.0, medians
