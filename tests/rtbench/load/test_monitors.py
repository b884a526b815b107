"""Monitors against real processes: a child that allocates and burns CPU, a Prometheus endpoint
served by prometheus_client in a subprocess, and the reference server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import gevent
import psutil
import pytest
import websocket
from support.clock import FakeClock

from rtbench.load.monitors import (
    ClientCpuSampler,
    ClientLagMonitor,
    ProcessSampler,
    PrometheusScraper,
    ScrapeError,
    parse_totals,
)

MB = 1_000_000

# A child that obeys stdin commands: "alloc N" holds N more touched bytes, "burn S" spends S
# seconds of CPU, "spawn N" starts a grandchild (this same program) holding N bytes.
CHILD = """
import subprocess, sys, time
held, kids = [], []
if len(sys.argv) > 1:
    held.append(b"\\x01" * int(sys.argv[1]))
    print("ok", flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "alloc":
        held.append(b"\\x01" * int(arg))
    elif command == "burn":
        end = time.process_time() + float(arg)
        while time.process_time() < end:
            pass
    elif command == "spawn":
        kid = subprocess.Popen([sys.executable, "-c", CODE, arg],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        kid.stdout.readline()
        kids.append(kid)
    print("ok", flush=True)
for kid in kids:
    kid.stdin.close()
    kid.wait()
"""
CHILD_CODE = "CODE = " + repr(CHILD) + "\n" + CHILD


class Child:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.process.pid

    def do(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().strip() == "ok"

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=10)


@pytest.fixture
def child() -> Iterator[Child]:
    process = Child()
    yield process
    process.stop()


# -- ClientLagMonitor -------------------------------------------------------------------------


def test_lag_monitor_measures_a_blocked_hub() -> None:
    lags: list[tuple[str, float]] = []
    monitor = ClientLagMonitor(lambda name, us: lags.append((name, us)))
    monitor.start()
    monitor.start()  # already running: no second sleeper
    gevent.sleep(0.3)
    idle = [us for _, us in lags]
    assert 15 <= len(idle) <= 31
    assert sorted(idle)[len(idle) // 2] < 5_000  # a free hub wakes the sleeper on time

    def hog() -> None:
        end = time.perf_counter() + 0.050
        while time.perf_counter() < end:
            pass

    gevent.spawn(hog).join()
    gevent.sleep(0.05)
    monitor.stop()
    assert not monitor.running
    busy = [us for _, us in lags[len(idle) :]]
    assert 35_000 <= max(busy) <= 75_000
    assert {name for name, _ in lags} == {"client_lag"}
    count = len(lags)
    gevent.sleep(0.05)
    assert len(lags) == count  # stopped means stopped


# -- ClientCpuSampler -------------------------------------------------------------------------


def test_client_cpu_sampler_divides_cpu_time_by_wall_time() -> None:
    clock = FakeClock()
    sampler = ClientCpuSampler(clock)
    end = time.process_time() + 0.2
    while time.process_time() < end:
        pass
    clock.now = 1.0
    assert 19 <= sampler.sample() <= 23  # 0.2 s of CPU in 1 s: 20 %
    time.sleep(0.2)
    clock.now = 2.0
    assert sampler.sample() < 2


# -- ProcessSampler ---------------------------------------------------------------------------


def test_process_rss_follows_an_allocation(child: Child) -> None:
    sampler = ProcessSampler(child.pid)
    before = sampler.sample()
    child.do(f"alloc {100 * MB}")
    after = sampler.sample()
    assert 90 * MB <= after.rss_bytes - before.rss_bytes <= 115 * MB
    assert after.ts >= before.ts and after.processes == 1
    assert after.num_fds is not None and after.num_fds >= 3


def test_process_cpu_percent_between_samples(child: Child) -> None:
    clock = FakeClock()
    sampler = ProcessSampler(child.pid, clock=clock)
    child.do("burn 0.4")
    clock.now = 2.0
    busy = sampler.sample().cpu_percent
    time.sleep(0.2)
    clock.now = 3.0
    idle = sampler.sample().cpu_percent
    assert 19 <= busy <= 23  # 0.4 s of CPU in 2 s: 20 %
    assert idle < 2


def test_process_cpu_percent_on_the_real_clock(child: Child) -> None:
    sampler = ProcessSampler(child.pid)
    child.do("burn 0.3")
    assert 30 <= sampler.sample().cpu_percent <= 110


def test_children_are_summed(child: Child) -> None:
    child.do(f"spawn {64 * MB}")
    tree = ProcessSampler(child.pid).sample()
    alone = ProcessSampler(child.pid, include_children=False).sample()
    assert tree.processes == 2 and alone.processes == 1
    assert tree.rss_bytes - alone.rss_bytes >= 64 * MB
    assert tree.num_fds is not None and alone.num_fds is not None
    assert tree.num_fds > alone.num_fds


def test_a_vanished_process_is_a_lookup_error() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    sampler = ProcessSampler(process.pid)
    process.wait()
    with pytest.raises(ProcessLookupError):
        sampler.sample()
    with pytest.raises(ProcessLookupError):
        ProcessSampler(process.pid)


def test_a_killed_process_not_yet_reaped_is_a_lookup_error() -> None:
    """A target killed with SIGKILL whose parent has not waited for it yet (a zombie) has exited."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sampler = ProcessSampler(process.pid)
        sampler.sample()
        process.kill()
        deadline = time.monotonic() + 5
        while psutil.Process(process.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(ProcessLookupError):
            sampler.sample()
    finally:
        process.kill()
        process.wait()


# -- PrometheusScraper ------------------------------------------------------------------------

EXPORTER = """
import sys, time
from prometheus_client import Gauge, start_http_server
sessions = Gauge("rtref_sessions_open", "open", ["protocol"])
sessions.labels("native").set(3)
sessions.labels("openai").set(4)
Gauge("other_sessions", "open").set(11)
server, thread = start_http_server(0, addr="127.0.0.1")
print(server.server_port, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def exporter() -> Iterator[tuple[str, int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", EXPORTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None and process.stdin is not None
    port = int(process.stdout.readline())
    yield f"http://127.0.0.1:{port}/metrics", process.pid
    process.stdin.close()
    process.wait(timeout=10)


def test_scraper_reads_prometheus_client_process_metrics(exporter: tuple[str, int]) -> None:
    url, pid = exporter
    scraper = PrometheusScraper(url)
    first = scraper.scrape()
    assert first["sessions"] == 7.0  # summed over the protocol label
    rss = psutil.Process(pid).memory_info().rss
    assert first["rss_bytes"] is not None and 0.8 * rss <= first["rss_bytes"] <= 1.2 * rss
    assert first["cpu_seconds"] is not None and first["cpu_seconds"] > 0
    assert first["cpu_percent"] is None  # needs two scrapes
    time.sleep(0.2)
    second = scraper.scrape()
    assert second["cpu_percent"] is not None and 0 <= second["cpu_percent"] < 50


def test_scraper_metric_names_are_parameters(exporter: tuple[str, int]) -> None:
    url, _ = exporter
    scraper = PrometheusScraper(url, sessions_metric="other_sessions", rss_metric=("nope",))
    result = scraper.scrape()
    assert result["sessions"] == 11.0 and result["rss_bytes"] is None


def test_scrape_failures_are_scrape_errors() -> None:
    with pytest.raises(ScrapeError, match="cannot scrape"):
        PrometheusScraper("http://127.0.0.1:9/metrics", timeout=0.5).scrape()
    with pytest.raises(ScrapeError, match="malformed"):
        parse_totals("metric_without_value\n")


def test_reference_server_metrics_and_process_tree(
    reference_server_factory: Callable[..., object],
) -> None:
    server = reference_server_factory(procs=2)  # a supervisor and two workers
    scraper = PrometheusScraper(server.base_url + "/metrics")  # type: ignore[attr-defined]
    assert scraper.scrape()["sessions"] == 0
    sockets = [websocket.create_connection(server.ws_url, timeout=5) for _ in range(3)]  # type: ignore[attr-defined]
    try:
        for ws in sockets:
            ws.recv()  # the session frame: the server has registered the session
        scraped = scraper.scrape()
        assert scraped["sessions"] == 3
        tree = ProcessSampler(server.pid).sample()  # type: ignore[attr-defined]
        supervisor = ProcessSampler(server.pid, include_children=False).sample()  # type: ignore[attr-defined]
        assert tree.processes == 3
        workers_rss = tree.rss_bytes - supervisor.rss_bytes
        assert scraped["rss_bytes"] is not None
        assert 0.85 * workers_rss <= scraped["rss_bytes"] <= 1.15 * workers_rss
    finally:
        for ws in sockets:
            ws.close()
