"""A planned outage kills the real reference server (its whole process tree) on time, and restarts
it with the plan's flags on the same port."""

from __future__ import annotations

import time
import urllib.request

import psutil
import pytest

from rtbench.faults import ServerPlan
from rtbench.load.outage import ScheduledOutage
from rtbench.local_server import LocalServer


def healthy(server: LocalServer) -> bool:
    try:
        with urllib.request.urlopen(server.base_url + "/healthz", timeout=1.0) as response:
            return response.status == 200
    except OSError:
        return False


def test_kill_takes_the_whole_tree_at_its_time() -> None:
    server = LocalServer(["--procs", "2"]).start()
    try:
        tree = [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]
        assert len(tree) >= 3  # the supervisor and its two workers
        outage = ScheduledOutage(server, ServerPlan(("--procs", "2"), kill_after_s=1.0))
        assert outage.tick(0.5) == [] and not outage.down
        events = outage.tick(1.0)
        assert [kind for kind, _ in events] == ["target_killed"] and f"pid {server.pid}" in events[0][1]
        assert outage.down
        deadline = time.monotonic() + 5
        while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in tree):
            assert time.monotonic() < deadline, "a server process survived the kill"
            time.sleep(0.05)
        assert outage.tick(30.0) == [] and outage.down  # it stays down: no restart planned
        outage.close()
    finally:
        server.stop()


def test_restart_brings_the_server_back_on_the_same_port() -> None:
    server = LocalServer(["--ttft-ms", "5"]).start()
    outage = ScheduledOutage(server, ServerPlan(("--ttft-ms", "5"), kill_after_s=0.0, restart_after_s=0.2))
    try:
        first = server.pid
        assert [kind for kind, _ in outage.tick(0.0)] == ["target_killed"]
        events: list[tuple[str, str]] = []
        deadline = time.monotonic() + 20
        while not events:
            assert time.monotonic() < deadline, "the server did not come back"
            events = outage.tick(1.0)
            time.sleep(0.05)
        assert [kind for kind, _ in events] == ["target_restarted"]
        assert outage.pid != first and not outage.down and healthy(server)
    finally:
        outage.close()
        server.stop()
    assert not healthy(server)  # close() stopped the restarted server


def test_a_plan_without_a_kill_is_no_outage() -> None:
    with pytest.raises(ValueError, match="kill_after_s"):
        ScheduledOutage(LocalServer(), ServerPlan())
