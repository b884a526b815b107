"""`--procs N`: workers share the port, metrics cover all of them, signals and failures propagate."""

from __future__ import annotations

import os
import signal
import time

import psutil
from support.clients import NativeClient, post_json
from support.server import running_server

from reference_server.config import ServerConfig
from reference_server.supervisor import supervise


def metrics_dirs(pid: int) -> list[str]:
    return [p.environ().get("PROMETHEUS_MULTIPROC_DIR", "") for p in psutil.Process(pid).children()]


def test_two_processes_share_the_port_and_the_metrics() -> None:
    with running_server("--ttft-ms", "0", "--itl-ms", "0", "--tokens", "5", procs=2) as server:
        workers = psutil.Process(server.pid).children()
        assert len(workers) == 2
        clients = [NativeClient(server.ws_url) for _ in range(24)]  # the kernel spreads them over both workers
        for i, client in enumerate(clients):
            client.turn(f"t{i}")
        post_json(server.url("/v1/completions"), {"prompt": "x", "max_tokens": 2})
        time.sleep(0.7)  # each worker flushes its frame tallies every 0.5 s
        metrics = server.metrics()
        per_process = {k for k in metrics if k.startswith("rtref_process_resident_memory_bytes{")}
        open_now = metrics['rtref_sessions_open{protocol="native"}']
        for client in clients:
            client.close()
        directory = metrics_dirs(server.pid)[0]
        assert os.path.isdir(directory)
        exit_code = server.stop()
    assert {f'rtref_process_resident_memory_bytes{{process_id="{w.pid}"}}' for w in workers} == per_process
    assert metrics["rtref_resident_memory_bytes"] == sum(metrics[k] for k in per_process)
    assert open_now == 24
    assert metrics['rtref_sessions_total{protocol="native"}'] == 24
    assert metrics['rtref_prompts_total{protocol="native"}'] == 24
    assert metrics['rtref_tokens_total{protocol="native"}'] == 24 * 5
    assert metrics['rtref_prompts_total{protocol="openai"}'] == 1
    assert exit_code == 0
    assert not os.path.exists(directory)  # the supervisor removed its metrics directory
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_sigint_is_forwarded() -> None:
    with running_server(procs=2) as server:
        workers = psutil.Process(server.pid).children()
        with NativeClient(server.ws_url) as client:
            server.proc.send_signal(signal.SIGINT)
            assert client.recv()["code"] == "shutting_down"
        assert server.proc.wait(timeout=10) == 0
    assert "Traceback" not in server.stderr()
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_a_worker_dying_at_start_fails_the_supervisor(capfd) -> None:  # type: ignore[no-untyped-def]
    # The workers re-parse these flags and reject them before they are ready.
    code = supervise(["--port", "0", "--tokens-per-frame", "0"], ServerConfig(port=0, procs=2))
    assert code == 2
    assert "--tokens-per-frame must be >= 1" in capfd.readouterr().err


def test_a_worker_dying_later_stops_the_rest() -> None:
    with running_server(procs=2) as server:
        first, second = psutil.Process(server.pid).children()
        first.kill()
        assert server.proc.wait(timeout=10) == 1
        second.wait(timeout=10)
    assert f"(pid {first.pid}) exited with code -9; stopping" in server.stderr()
