"""ChatUser against the real reference server: timeouts within a turn, and protocol selection.

Runs are `rtbench run` subprocesses (importing Locust monkey-patches the standard library).
"""

from __future__ import annotations

import json
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support.runs import RTBENCH, run_scenario, scenario_text

from rtbench.local_server import LocalServer


def scenario(url: str, target_extra: str = "", users: int = 4, duration: str = "3s") -> str:
    return scenario_text(url, target_extra, users, duration)


def test_first_token_timeout_fails_slow_first_tokens(tmp_path: Path) -> None:
    """TTFT 400 ms against a 100 ms first-token timeout: every turn fails as a timeout quickly."""
    with LocalServer(("--ttft-ms", "400", "--itl-ms", "5", "--tokens", "3")) as server:
        result, summary = run_scenario(
            tmp_path, scenario(server.ws_url, 'first_token_timeout = "100ms"\nturn_timeout = "10s"')
        )
    assert result.returncode == 3, result.stderr  # a run in which no turn completed
    assert "no turn completed" in result.stdout, result.stdout
    delivery = summary["delivery"]
    assert delivery["turns_completed"] == 0, delivery
    assert delivery["failed"]["timeout"] >= 8, delivery  # 4 users, ~0.3 s a turn, 3 s steady
    assert delivery["failed_reasons"] == {"timeout: no_first_token": delivery["failed"]["timeout"]}, delivery


def test_idle_timeout_fails_stalled_streams_but_not_steady_ones(tmp_path: Path) -> None:
    """ITL 300 ms against a 100 ms idle timeout fails; the same server passes with 1 s."""
    flags = ("--ttft-ms", "20", "--itl-ms", "300", "--tokens", "3")
    runs = {}
    with LocalServer(flags) as server:
        for name, idle in (("strict", "100ms"), ("loose", "1s")):
            (tmp_path / name).mkdir()
            runs[name] = run_scenario(tmp_path / name, scenario(server.ws_url, f'idle_timeout = "{idle}"', users=2))
    assert runs["strict"][0].returncode == 3, runs["strict"][0].stderr  # no turn completed
    assert runs["loose"][0].returncode == 0, runs["loose"][0].stderr
    strict, loose = runs["strict"][1]["delivery"], runs["loose"][1]["delivery"]
    assert strict["turns_completed"] == 0 and strict["failed"]["timeout"] >= 2, strict
    assert strict["failed_reasons"] == {"timeout: no_next_frame": strict["failed"]["timeout"]}, strict
    assert loose["failed"]["timeout"] == 0 and loose["turns_completed"] >= 2, loose


def test_bad_adapter_options_fail_before_the_run_in_one_line(tmp_path: Path) -> None:
    with LocalServer(()) as server:
        result, summary = run_scenario(tmp_path, scenario(server.ws_url) + "[adapter]\nmodel = 'x'\n")
    assert result.returncode == 3
    assert summary == {}
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "native" in lines[0] and "model" in lines[0], result.stderr


SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


@pytest.fixture(scope="module")
def ground_truth() -> Iterator[LocalServer]:
    with LocalServer(("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")) as server:
        yield server


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
@pytest.mark.parametrize(
    ("scenario_file", "path"),
    [
        ("chat.toml", "/ws"),
        ("openai-sse.toml", "/v1/chat/completions"),
        ("openai-sse.toml", "/v1/completions"),
        ("openai-realtime.toml", "/v1/realtime"),
        ("ws-json-example.toml", "/ws"),
    ],
)
def test_every_protocol_measures_the_injected_latency(
    ground_truth: LocalServer, tmp_path: Path, scenario_file: str, path: str
) -> None:
    """The shipped scenarios, through the Locust runner, on one server with TTFT 50 / ITL 10 ms."""
    scheme = "http" if path.startswith("/v1/c") else "ws"
    target = f"{scheme}://127.0.0.1:{ground_truth.port}{path}"
    out = tmp_path / "bundle"
    cmd = [
        *RTBENCH,
        "run",
        str(SCENARIOS / scenario_file),
        "--target",
        target,
        "--out",
        str(out),
        "--users",
        "10",
        "--spawn-rate",
        "10",
        "--duration",
        "4s",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    assert 47.0 <= m["ttft"]["p50"] <= 53.0, m["ttft"]
    assert 8.0 <= m["itl"]["p50"] <= 12.0, m["itl"]
    assert m["ttft"]["count"] >= 10
    assert summary["delivery"]["delivery_ratio"] == 1.0
    assert summary["config"]["protocol"] == tomllib.loads((SCENARIOS / scenario_file).read_text())["target"]["protocol"]


def test_sessions_spread_over_source_addresses(ground_truth: LocalServer, tmp_path: Path) -> None:
    """--source-addrs: the users' connections leave from every given loopback address."""
    scenario_file = tmp_path / "s.toml"
    scenario_file.write_text(scenario(ground_truth.ws_url, users=9, duration="4s"))
    cmd = [*RTBENCH, "run", str(scenario_file), "--out", str(tmp_path / "b"), "--source-addrs", "127.0.0.2-127.0.0.4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            connections = psutil.Process(proc.pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            break
        seen |= {c.laddr.ip for c in connections if c.raddr and c.raddr.port == ground_truth.port}
        time.sleep(0.2)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert seen == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
