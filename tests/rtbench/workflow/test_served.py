"""`served_target()`: the one way to start the bundled reference server for a run."""

from __future__ import annotations

import tomllib
import urllib.request

import psutil

from rtbench.scenario import resolve
from rtbench.workflow import served_target

SCENARIO = """
[target]
url = "ws://127.0.0.1:1/ws?x=1"
metrics_url = "http://elsewhere/metrics"
[server]
tokens = 3
[faults]
error_rate = 0.5
"""


def test_the_scenarios_server_options_and_faults_and_the_config_aimed_at_it() -> None:
    config = resolve(tomllib.loads(SCENARIO))
    with served_target(config) as served:
        server, aimed = served.server, served.config
        assert aimed.target.url == f"ws://127.0.0.1:{server.port}/ws?x=1"  # scheme, path and query kept
        assert aimed.target.pid == server.pid and aimed.target.metrics_url == "http://elsewhere/metrics"
        assert aimed.load == config.load and aimed.faults == config.faults and served.outage is None
        argv = psutil.Process(server.pid).cmdline()
        assert argv[argv.index("--tokens") + 1] == "3" and argv[argv.index("--error-rate") + 1] == "0.5"
        with urllib.request.urlopen(server.base_url + "/healthz", timeout=5) as reply:
            assert reply.status == 200
        pid = server.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_explicit_flags_replace_the_scenarios_and_metrics_can_be_scraped() -> None:
    config = resolve(tomllib.loads(SCENARIO))
    with served_target(config, ("--tokens", "7"), scrape_metrics=True) as served:
        argv = psutil.Process(served.server.pid).cmdline()
        assert "--error-rate" not in argv and argv[argv.index("--tokens") + 1] == "7"
        assert served.config.target.metrics_url == served.server.base_url + "/metrics"


def test_the_server_stops_when_the_run_fails() -> None:
    config = resolve(tomllib.loads(SCENARIO))
    pid = None
    try:
        with served_target(config) as served:
            pid = served.server.pid
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert pid is not None and (not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
