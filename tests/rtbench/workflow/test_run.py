"""`run_benchmark`: a real short run against the reference server, in a process of its own (Locust
monkey-patches the process that imports it), and a preflight failure that starts nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rtbench.config import RunConfig, TargetConfig
from rtbench.errors import TargetUnreachable
from rtbench.local_server import LocalServer, free_port
from rtbench.workflow import RunHooks, run_benchmark

SCENARIO = """
[scenario]
name = "wf"
[target]
url = "ws://127.0.0.1:1/ws"
connect_timeout = "2s"
[load]
users = 4
spawn_rate = 4
duration = "3s"
think_time = "0.2s"
workers = "auto"
[prompts]
texts = ["hello there"]
[slo]
ttft = ["p95 < 2s"]
"""

DRIVER = """
import json, sys
from pathlib import Path
from rtbench.overrides import RunOverrides
from rtbench.workflow import RunHooks, plan_run, run_benchmark

scenario, target, out = sys.argv[1:4]
notes, warnings, ticks, live = [], [], [], []

class Live:
    def __enter__(self):
        live.append("enter")
        return self
    def __exit__(self, *exc):
        live.append("exit")
    def update(self, status):
        ticks.append([status.phase, status.target_users])
    def warn(self, message):
        warnings.append(message)

plan = plan_run(Path(scenario), RunOverrides(target=target))
locust_before = "locust" in sys.modules
outcome = run_benchmark(plan.config, Path(out), RunHooks(notes.append, notes.append, Live))
print(json.dumps({
    "locust_before": locust_before,
    "notes": notes,
    "ticks": ticks,
    "live": live,
    "partial": outcome.partial,
    "bundle": str(outcome.bundle_dir),
    "workers": outcome.config.load.workers,
    "turn_limits": outcome.config.turn_limits_ms,
    "completed": outcome.summary["delivery"]["turns_completed"],
    "summary_config_target": outcome.summary["config"]["target"],
}))
"""


def test_a_real_short_run_returns_its_outcome_and_reports_through_hooks(tmp_path: Path) -> None:
    scenario = tmp_path / "wf.toml"
    scenario.write_text(SCENARIO)
    driver = tmp_path / "driver.py"
    driver.write_text(textwrap.dedent(DRIVER))
    out = tmp_path / "bundle"
    with LocalServer(("--ttft-ms", "5", "--itl-ms", "1", "--tokens", "5")) as server:
        proc = subprocess.run(
            [sys.executable, str(driver), str(scenario), server.ws_url, str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("\n") == 1, proc.stdout  # the workflow printed nothing of its own
    result = json.loads(proc.stdout)
    assert result["locust_before"] is False  # imported only once the run starts
    assert result["notes"] == ["workers: 1 load processes"] and result["workers"] == 1
    assert result["live"] == ["enter", "exit"]
    assert len(result["ticks"]) >= 3 and all(users == 4 for _, users in result["ticks"])
    assert {"ramp", "steady"} <= {phase for phase, _ in result["ticks"]}
    assert result["partial"] is False and result["completed"] > 10
    assert result["bundle"] == str(out) and (out / "summary.json").is_file()
    assert result["turn_limits"] == [["ttft", 2000.0]]
    assert result["summary_config_target"] == server.ws_url


def test_an_unreachable_target_fails_in_preflight_before_any_load(tmp_path: Path) -> None:
    locust_before = "locust" in sys.modules
    config = RunConfig(target=TargetConfig(url=f"ws://127.0.0.1:{free_port()}/ws", connect_timeout=1.0))
    notes: list[str] = []
    with pytest.raises(TargetUnreachable, match=r"^cannot reach target ws://127\.0\.0\.1:\d+/ws: connection refused$"):
        run_benchmark(config, tmp_path / "never", RunHooks(on_note=notes.append))
    assert not (tmp_path / "never").exists()
    assert ("locust" in sys.modules) == locust_before


def test_a_protocol_at_a_url_of_another_wire_fails_in_one_line_before_any_bundle(tmp_path: Path) -> None:
    """openai-chat (streamed HTTP) pointed at a WebSocket URL: no transport serves it, so the run
    stops before its first user with one line and exit 3, instead of running with every turn failed."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "bundle"
    with LocalServer() as server:
        proc = subprocess.run(
            [sys.executable, "-m", "rtbench.cli", "run", str(scenario), "--target", server.ws_url]
            + ["--protocol", "openai-chat", "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "protocol 'openai-chat' (HTTP_STREAM) has no transport for the target" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (out / "summary.json").exists()
