"""Whole runs for tests: `rtbench run` as a subprocess (importing Locust here would monkey-patch
the test process) on a scenario written for the test.

    result, summary = run_scenario(tmp_path, scenario_text(server.ws_url, users=4))
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["RTBENCH", "run_scenario", "scenario_text"]

RTBENCH = [sys.executable, "-m", "rtbench.cli"]


def scenario_text(
    url: str, target_extra: str = "", users: int = 4, duration: str = "3s", think_time: str = "0.2s", tables: str = ""
) -> str:
    """A scenario: `target_extra` lines go in [target], `tables` (whole TOML tables) at the end."""
    return f"""
[scenario]
name = "test"
[target]
url = "{url}"
{target_extra}
[load]
users = {users}
spawn_rate = {users}
duration = "{duration}"
think_time = "{think_time}"
[prompts]
texts = ["hello there"]
{tables}
"""


def run_scenario(tmp_path: Path, body: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run the scenario `body` with options `extra`; the summary ({} when none was written)."""
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(body)
    out = tmp_path / "bundle"
    cmd = [*RTBENCH, "run", str(scenario), "--out", str(out), *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    summary_file = out / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return result, summary
