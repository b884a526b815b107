"""One server process end to end: health, metrics, auth, deflate, heartbeat, shutdown, timing truth."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import socket
import statistics
import time
import urllib.error
import urllib.request

import aiohttp
import psutil
import pytest
import websocket
from support.abuse import raw_http
from support.clients import NativeClient, close_code, post_json, recv_json
from support.server import ServerHandle, running_server

CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def test_healthz_and_metrics_counts_move(reference_server: ServerHandle) -> None:
    with urllib.request.urlopen(reference_server.base_url + "/healthz") as response:
        assert response.status == 200 and response.read() == b"ok\n"
    before = reference_server.metrics()
    with NativeClient(reference_server.ws_url) as client:
        client.turn("a")
        client.turn("b")
        during = reference_server.metrics()
        client.send(type="nope")
        client.recv()
    after = reference_server.metrics()
    assert during['rtref_sessions_open{protocol="native"}'] == 1
    assert after['rtref_sessions_open{protocol="native"}'] == 0
    assert after['rtref_sessions_total{protocol="native"}'] == before['rtref_sessions_total{protocol="native"}'] + 1
    assert after['rtref_prompts_total{protocol="native"}'] == before['rtref_prompts_total{protocol="native"}'] + 2
    assert after['rtref_tokens_total{protocol="native"}'] == before['rtref_tokens_total{protocol="native"}'] + 40
    assert after['rtref_frames_total{protocol="native"}'] == before['rtref_frames_total{protocol="native"}'] + 40
    assert (
        after['rtref_bytes_sent_total{protocol="native"}']
        > before['rtref_bytes_sent_total{protocol="native"}'] + 40 * 60
    )
    assert after['rtref_errors_total{code="unknown_type"}'] == 1
    assert after["rtref_resident_memory_bytes"] > 10e6 and after["rtref_cpu_seconds"] > 0
    assert after['rtref_send_lateness_seconds_count{frame="first"}'] == 2
    assert after['rtref_send_lateness_seconds_count{frame="next"}'] == 38


@pytest.mark.quiet  # timing on a quiet machine: runs alone, after the parallel tests
def test_fixed_ttft_is_exact_on_both_clocks(reference_server: ServerHandle) -> None:
    """Fixed 50 ms TTFT at low load: client-observed median within 3 ms, server clock within 1 ms."""
    client_ttft, server_ttft = [], []
    with NativeClient(reference_server.ws_url) as client:
        for i in range(20):
            sent = client.prompt(f"t{i}", max_tokens=1)
            first = client.recv()
            client_ttft.append(time.perf_counter() - sent)
            done = client.recv()
            server_ttft.append(first["ts"] - done["prompt_ts"])
    assert statistics.median(client_ttft) == pytest.approx(0.050, abs=0.003)
    assert statistics.median(server_ttft) == pytest.approx(0.0505, abs=0.0005)
    assert min(server_ttft) >= 0.0499
    metrics = reference_server.metrics()
    within_1ms = metrics['rtref_send_lateness_seconds_bucket{frame="first",le="0.001"}']
    assert within_1ms >= 0.9 * metrics['rtref_send_lateness_seconds_count{frame="first"}']


def test_auth_refuses_before_the_upgrade_and_accepts_the_token() -> None:
    with running_server("--token", "s3cret", "--tokens", "2") as server:
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(server.ws_url, timeout=5)
        assert refused.value.status_code == 401
        with pytest.raises(websocket.WebSocketBadStatusException):
            websocket.create_connection(server.url("/v1/realtime", "ws"), header=["Authorization: Bearer wrong"])
        status, body = post_json(server.url("/v1/chat/completions"), CHAT)
        assert status == 401 and body["error"]["code"] == "unauthorized"
        with NativeClient(server.ws_url, header=["Authorization: Bearer s3cret"]) as client:
            assert client.turn("ok")[-1]["type"] == "done"
        assert post_json(server.url("/v1/chat/completions"), CHAT, {"Authorization": "Bearer s3cret"})[0] == 200
        assert server.metrics()['rtref_errors_total{code="unauthorized"}'] == 3  # /metrics needs no token


def test_token_from_the_environment() -> None:
    with running_server("--tokens", "1", env={"RTREF_TOKEN": "from-env"}) as server:
        assert post_json(server.url("/v1/completions"), {"prompt": "x"})[0] == 401
        assert post_json(server.url("/v1/completions"), {"prompt": "x"}, {"Authorization": "Bearer from-env"})[0] == 200


def _deflate_turn(server: ServerHandle) -> tuple[int, list[dict]]:
    async def talk() -> tuple[int, list[dict]]:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.ws_url, compress=15) as ws:
                await ws.receive_json()
                await ws.send_json({"type": "prompt", "id": "z", "text": "hi"})
                frames = []
                while not frames or frames[-1]["type"] != "done":
                    frames.append(await ws.receive_json())
                return int(ws.compress), frames

    return asyncio.run(talk())


def test_deflate_is_off_by_default_and_switchable() -> None:
    sent = {}
    for flag in ("--no-deflate", "--deflate"):
        with running_server(flag, "--ttft-ms", "0", "--itl-ms", "0", "--tokens", "50") as server:
            negotiated, frames = _deflate_turn(server)
            assert len(frames) == 51 and frames[-1]["usage"]["output_tokens"] == 50
            sent[flag] = (negotiated, server.metrics()['rtref_bytes_sent_total{protocol="native"}'])
    assert sent["--no-deflate"][0] == 0 and sent["--deflate"][0] == 15
    assert sent["--deflate"][1] < 0.6 * sent["--no-deflate"][1]  # bytes are counted after compression


def test_heartbeat_pings() -> None:
    with running_server("--heartbeat-s", "0.2") as server:
        client = NativeClient(server.ws_url)
        opcode, _ = client.ws.recv_data(control_frame=True)
        client.close()
    assert opcode == websocket.ABNF.OPCODE_PING


def test_heartbeats_are_not_rounded_to_whole_seconds() -> None:
    """aiohttp rounds timers over 5 s up to a whole second unless told not to; rounded, every
    session's heartbeat would fire in the same loop iteration."""
    with running_server("--heartbeat-s", "5.2") as server:
        clients, opened = [], []
        for _ in range(2):
            clients.append(NativeClient(server.ws_url, timeout=10))
            opened.append(time.monotonic())
            time.sleep(0.3)
        delays = []
        for client, start in zip(clients, opened, strict=False):
            opcode, _ = client.ws.recv_data(control_frame=True)
            delays.append(time.monotonic() - start)
            assert opcode == websocket.ABNF.OPCODE_PING
            client.close()
    assert delays == [pytest.approx(5.2, abs=0.1), pytest.approx(5.2, abs=0.1)]


def test_sigterm_closes_sessions_with_1001() -> None:
    with running_server("--tokens", "5") as server:
        native = NativeClient(server.ws_url)
        realtime = websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5)
        recv_json(realtime)
        server.proc.send_signal(signal.SIGTERM)
        native_error, realtime_error = native.recv(), recv_json(realtime)
        codes = close_code(native.ws), close_code(realtime)
        exit_code = server.proc.wait(timeout=10)
        stderr = server.stderr()
    assert native_error["code"] == "shutting_down"
    assert realtime_error["error"]["code"] == "shutting_down"
    assert codes == (1001, 1001)
    assert exit_code == 0
    assert "Traceback" not in stderr


def test_healthz_is_refused_while_stopping() -> None:
    with running_server() as server:
        client = NativeClient(server.ws_url)  # keeps the shutdown busy for a moment
        client.ws.settimeout(5)
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(server.base_url + "/healthz", timeout=2)
        client.close()
        assert server.proc.wait(timeout=10) == 0


def test_http_body_limit() -> None:
    with running_server("--max-message-bytes", "2000") as server:
        status, body = post_json(server.url("/v1/completions"), json.dumps({"prompt": "x" * 5000}).encode())
        assert server.metrics()['rtref_errors_total{code="too_large"}'] == 1
    assert status == 413 and body["error"]["code"] == "too_large"


def test_malformed_http_gets_400_and_no_traceback(reference_server: ServerHandle) -> None:
    for raw in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"):
        with socket.create_connection((reference_server.host, reference_server.port), timeout=5) as sock:
            sock.sendall(raw)
            assert sock.recv(100).startswith(b"HTTP/1.0 400")
    with NativeClient(reference_server.ws_url) as client:
        assert client.turn("still-serving")[-1]["type"] == "done"
    stderr = reference_server.stderr()
    assert "Traceback" not in stderr
    assert all(line.startswith("reference_server: ") for line in stderr.splitlines())


def test_the_server_raises_its_open_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 1024), hard))  # the server inherits a low limit
    try:
        with running_server() as server:
            server_soft = psutil.Process(server.pid).rlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert server_soft == hard


def test_header_limit_refuses_long_heads_counted_and_unlogged() -> None:
    """aiohttp logged an ERROR line for every malformed request, so one client could fill the log;
    they are counted in rtref_rejected_total instead."""
    with running_server("--max-header-bytes", "1024") as server:

        def status(header: bytes) -> int | None:
            return raw_http(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + header + b"\r\n\r\n").status

        assert status(b"a" * 900) == 200
        assert status(b"a" * 1100) == 400
        assert raw_http(server, b"GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n").status == 400
        metrics = server.metrics()
        stderr = server.stderr()
    assert metrics['rtref_rejected_total{reason="oversize"}'] == 1
    assert metrics['rtref_rejected_total{reason="malformed"}'] == 1
    assert "ERROR" not in stderr
