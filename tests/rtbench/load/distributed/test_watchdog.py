"""When a worker gives up on its master, and when the master gives up on a worker: both decisions
with an injected clock and no process (the runs are in test_liveness.py and test_worker.py).

Importing Locust monkey-patches the process (threads included), which would break pytest, so each
check of watch_checks.py runs in a Python process of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CHECKS = Path(__file__).with_name("watch_checks.py")


@pytest.mark.parametrize(
    "check",
    [
        "check_a_worker_stops_on_master_silence_or_parent_exit_but_not_while_quitting",
        "check_a_worker_that_was_stalled_itself_waits_for_the_masters_answer",
        "check_the_master_loses_a_silent_worker_after_3_s_and_forgets_it",
        "check_a_stalled_master_does_not_lose_its_workers",
    ],
)
def test_watch(check: str) -> None:
    proc = subprocess.run([sys.executable, str(CHECKS), check], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stdout + proc.stderr
