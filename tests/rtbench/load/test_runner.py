"""Whole runs of `rtbench run` against the real reference server on loopback.

Each run is a subprocess: importing Locust monkey-patches the standard library, which must not
happen inside the pytest process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rtbench.local_server import LocalServer

#: Timing on a quiet machine: these run alone, after the parallel tests (`make test`).
pytestmark = pytest.mark.quiet

RTBENCH = [sys.executable, "-m", "rtbench.cli"]
GROUND_TRUTH_FLAGS = ("--ttft-ms", "50", "--itl-ms", "10", "--tokens", "20")


SCENARIO = """
[scenario]
name = "engine"
[prompts]
texts = ["Tell me about tail latency.", "What is a WebSocket?"]
"""


def rtbench_run(out: Path, target: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`rtbench run` on a scenario without SLOs: these tests are about the engine, not the gate."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scenario = out.parent / f"{out.name}-scenario.toml"
    scenario.write_text(SCENARIO)
    cmd = [*RTBENCH, "run", str(scenario), "--target", target, "--out", str(out), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def assert_every_turn_counted(delivery: dict) -> None:
    """Each sent turn ended once: completed, failed (some kind) or cancelled at the stop."""
    failed = sum(delivery["failed"].values())
    assert delivery["turns_sent"] == delivery["turns_completed"] + failed + delivery["turns_cancelled"], delivery
    assert delivery["unaccounted"] == 0, delivery


@pytest.fixture(scope="module")
def ground_truth_server():
    with LocalServer(GROUND_TRUTH_FLAGS) as server:
        yield server


@pytest.fixture(scope="module")
def one_worker_run(ground_truth_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("w1") / "bundle"
    result = rtbench_run(
        out,
        ground_truth_server.ws_url,
        "--users",
        "200",
        "--spawn-rate",
        "200",
        "--duration",
        "10s",
        "--think-time",
        "1s..2s",
        "--target-pid",
        str(ground_truth_server.pid),
        "--seed",
        "1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return summary(out) | {"_out": str(out)}


def test_ground_truth(one_worker_run: dict) -> None:
    """Fixed TTFT 50 ms, ITL 10 ms, 20 tokens: the measured steady state matches the injection."""
    m = one_worker_run["metrics"]
    assert 47.0 <= m["ttft"]["p50"] <= 53.0, m["ttft"]
    assert 8.0 <= m["itl"]["p50"] <= 12.0, m["itl"]
    assert 235.0 <= m["e2e"]["p50"] <= 245.0, m["e2e"]
    assert m["tpot"]["p50"] == pytest.approx(10.0, abs=1.0)
    assert m["ttft"]["count"] > 500
    delivery = one_worker_run["delivery"]
    assert delivery["failed"] == {"timeout": 0, "error": 0, "incomplete": 0, "seq_gap": 0, "empty": 0}
    assert delivery["delivery_ratio"] == 1.0
    assert_every_turn_counted(delivery)
    assert one_worker_run["token_count_method"] == "usage"
    assert one_worker_run["sessions"]["peak"] == 200
    assert one_worker_run["partial"] is False


def test_bundle_files(one_worker_run: dict) -> None:
    out = Path(one_worker_run["_out"])
    for name in ("ttft", "itl", "e2e", "connect", "tpot", "client_lag"):
        assert (out / f"{name}.hlog").stat().st_size > 0, name
    rows = (out / "timeseries.csv").read_text().splitlines()
    assert rows[0].startswith("time,second,phase")
    assert len(rows) > 10
    phases = one_worker_run["phases"]
    assert phases["ramp"]["end"] <= phases["steady"]["start"] < phases["steady"]["end"]
    assert one_worker_run["target"]["rss_mb_max"] > 0
    assert one_worker_run["self_check"]["saturated"] is False
    assert one_worker_run["self_check"]["client_rss_mb_max"] > 10
    assert 0 < one_worker_run["self_check"]["client_rss_per_session_kb"] < 2048


def test_two_workers_agree_with_one(ground_truth_server: LocalServer, one_worker_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "w2"
    result = rtbench_run(
        out,
        ground_truth_server.ws_url,
        "--users",
        "200",
        "--spawn-rate",
        "200",
        "--duration",
        "10s",
        "--think-time",
        "1s..2s",
        "--workers",
        "2",
        "--seed",
        "2",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    two = summary(out)
    for metric, tolerance in (("ttft", 3.0), ("itl", 2.0), ("e2e", 5.0)):
        assert two["metrics"][metric]["p50"] == pytest.approx(one_worker_run["metrics"][metric]["p50"], abs=tolerance)
    assert two["sessions"]["peak"] == 200
    assert two["delivery"]["delivery_ratio"] == 1.0
    assert_every_turn_counted(two["delivery"])
    for process in two["delivery"]["by_process"].values():
        assert process["unaccounted"] == 0, two["delivery"]["by_process"]
    # both processes' turns arrived: about as many turns as the one-worker run
    assert two["metrics"]["e2e"]["count"] > 0.7 * one_worker_run["metrics"]["e2e"]["count"]


def test_ctrl_c_leaves_a_partial_bundle(ground_truth_server: LocalServer, tmp_path: Path) -> None:
    out = tmp_path / "partial"
    scenario = tmp_path / "engine.toml"
    scenario.write_text(SCENARIO)
    cmd = [
        *RTBENCH,
        "run",
        str(scenario),
        "--target",
        ground_truth_server.ws_url,
        "--out",
        str(out),
        "--users",
        "20",
        "--spawn-rate",
        "20",
        "--duration",
        "60s",
        "--think-time",
        "500ms",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (out / "timeseries.csv").exists() or len((out / "timeseries.csv").read_text().splitlines()) < 4:
            assert time.monotonic() < deadline, "no time series rows after 30 s"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, stdout + stderr
    data = summary(out)
    assert data["partial"] is True
    assert data["partial_reason"] == "interrupted"
    assert data["metrics_by_phase"]["steady"]["ttft"]["count"] > 0
    assert_every_turn_counted(data["delivery"])
    assert "partial run" in stderr


def test_a_step_shape_sets_the_users_each_second(ground_truth_server: LocalServer, tmp_path: Path) -> None:
    """[shape] step 4 -> 8 -> 12 users every 4 s: Locust's shape runner follows it, and the run
    ends with the shape."""
    scenario = tmp_path / "step.toml"
    scenario.write_text(
        SCENARIO + '[load]\nspawn_rate = 20\nthink_time = "0.5s"\n'
        '[shape]\nkind = "step"\nstart_users = 4\nstep_users = 4\nstep_every = "4s"\nsteps = 3\n'
    )
    out = tmp_path / "bundle"
    started = time.monotonic()
    result = subprocess.run(
        [*RTBENCH, "run", str(scenario), "--target", ground_truth_server.ws_url, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 40
    rows = [line.split(",") for line in (out / "timeseries.csv").read_text().splitlines()]
    header = rows[0]
    users = [int(float(r[header.index("users")])) for r in rows[1:] if r[header.index("users")]]
    stepped = [u for u in users if u]
    assert stepped[:2] == [4, 4] and 8 in stepped and 12 in stepped
    assert stepped.index(12) > stepped.index(8) > stepped.index(4)
    assert summary(out)["sessions"]["peak"] == 12
