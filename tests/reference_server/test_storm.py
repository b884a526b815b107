"""Reconnect storms against a real server process: SIGUSR1 (also through the --procs supervisor)
and POST /admin/drop drop exactly round(F x open) connections at once, the rest untouched, the
dropped sessions resumable."""

from __future__ import annotations

import json
import re
import selectors
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest
import websocket
from support.clients import NativeClient, recv_json
from support.server import ServerHandle, running_server

from reference_server.storm import is_loopback

SESSIONS = 100
#: A storm aborts its connections in one event-loop callback; their ends reach the client this close together.
SPREAD_S = 0.025
STORM_LINE = re.compile(r"storm at ([\d.]+): dropped (\d+) of (\d+) open WebSocket connections")


@contextmanager
def native_clients(server: ServerHandle, count: int = SESSIONS) -> Iterator[list[NativeClient]]:
    with ExitStack() as stack:
        yield [stack.enter_context(NativeClient(server.ws_url)) for _ in range(count)]


def ended(sockets: list[websocket.WebSocket], quiet_s: float = 0.5, limit_s: float = 5.0) -> dict[int, float]:
    """Index -> monotonic time at which the server ended that connection, waiting until no end has
    come for `quiet_s` (at most `limit_s`). The server sends nothing else meanwhile (no turns, no
    heartbeat within the test)."""
    with selectors.DefaultSelector() as selector:
        for index, ws in enumerate(sockets):
            selector.register(ws.sock, selectors.EVENT_READ, index)
        ends: dict[int, float] = {}
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            events = selector.select(timeout=quiet_s if ends else limit_s)
            now = time.monotonic()
            if not events:
                break
            for key, _ in events:
                ends[key.data] = now
                selector.unregister(key.fileobj)
    for index in ends:  # readable means ended: the next read finds no frame
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            sockets[index].recv()
    return ends


def storm_lines(server: ServerHandle) -> list[tuple[float, int, int]]:
    """(ts, dropped, open) of each storm line the server (every process) logged."""
    return [(float(ts), int(d), int(o)) for ts, d, o in STORM_LINE.findall(server.stderr())]


def wait_for_storm_lines(server: ServerHandle, count: int, timeout: float = 5.0) -> list[tuple[float, int, int]]:
    deadline = time.monotonic() + timeout
    while len(lines := storm_lines(server)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return lines


def assert_resumable(server: ServerHandle, clients: list[NativeClient], attempts: int = 1) -> None:
    """Each client's session resumes on a new connection. A session lives in the process that made
    it; with --procs, a new connection reaches a process the kernel picks, hence `attempts`."""
    for client in clients:
        for _ in range(attempts):
            with NativeClient(server.ws_url) as again:
                again.send(type="resume", resume_token=client.session["resume_token"], last_seq=0)
                resumed = again.recv()
            if resumed["type"] == "resumed":
                break
        assert resumed["type"] == "resumed" and resumed["session_id"] == client.session["session_id"]


def assert_alive(clients: list[NativeClient]) -> None:
    for i, client in enumerate(clients):
        client.send(type="ping", id=i)
        assert client.recv() == {"type": "pong", "id": i, "ts": pytest.approx(time.time(), abs=5)}


def admin_drop(server: ServerHandle, query: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url(f"/admin/drop{query}"), method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, json.loads(body) if exc.headers.get_content_type() == "application/json" else {"text": body}


def test_sigusr1_drops_a_fraction_at_once_and_the_sessions_resume() -> None:
    with running_server("--drop-on-signal", "0.1") as server, native_clients(server) as clients:
        before = time.time()
        server.proc.send_signal(signal.SIGUSR1)
        ends = ended([c.ws for c in clients])
        after = time.time()
        [(ts, dropped, open_)] = wait_for_storm_lines(server, 1)
        metrics = server.metrics()
        dropped_clients = [clients[i] for i in ends]
        assert_resumable(server, dropped_clients)
        assert_alive([c for i, c in enumerate(clients) if i not in ends])
        resumes = server.metrics()['rtref_resumes_total{result="ok"}']
    assert (dropped, open_) == (round(0.1 * SESSIONS), SESSIONS)
    assert len(ends) == dropped
    assert max(ends.values()) - min(ends.values()) < SPREAD_S
    assert before <= ts <= after
    assert metrics['rtref_faults_total{kind="drop"}'] == dropped
    assert metrics["rtref_storm_drops_total"] == dropped
    assert metrics["rtref_last_storm_timestamp_seconds"] == pytest.approx(ts, abs=1e-5)
    assert metrics['rtref_sessions_open{protocol="native"}'] == SESSIONS - dropped
    assert resumes == dropped


def test_the_supervisor_forwards_the_signal_to_every_worker() -> None:
    with running_server("--drop-on-signal", "0.1", procs=2) as server, native_clients(server) as clients:
        server.proc.send_signal(signal.SIGUSR1)
        ends = ended([c.ws for c in clients])
        lines = wait_for_storm_lines(server, 2)
        metrics = server.metrics()
        assert_resumable(server, [clients[i] for i in ends], attempts=30)  # each misses with p = 1/2
        assert_alive([c for i, c in enumerate(clients) if i not in ends])
    assert len(lines) == 2  # one storm per worker, each over its own connections
    assert sum(open_ for _, _, open_ in lines) == SESSIONS
    assert all(dropped == round(0.1 * open_) for _, dropped, open_ in lines)
    assert len(ends) == sum(dropped for _, dropped, _ in lines) == metrics["rtref_storm_drops_total"]
    assert max(ends.values()) - min(ends.values()) < SPREAD_S * 4  # two processes, each woken by its own signal
    assert metrics["rtref_last_storm_timestamp_seconds"] == pytest.approx(max(ts for ts, _, _ in lines), abs=1e-5)


def test_admin_endpoint_drops_in_its_process_and_answers_the_count() -> None:
    with running_server("--admin") as server, native_clients(server) as clients:
        status, body = admin_drop(server, "?fraction=0.1")
        ends = ended([c.ws for c in clients])
        assert_resumable(server, [clients[i] for i in ends])
        bad = [
            admin_drop(server, query)
            for query in ("", "?fraction=0", "?fraction=1.5", "?fraction=nan", "?fraction=lots")
        ]
        metrics = server.metrics()
    assert status == 200
    assert (body["dropped"], body["open"], body["pid"]) == (round(0.1 * SESSIONS), SESSIONS, server.pid)
    assert body["ts"] == pytest.approx(time.time(), abs=30)
    assert len(ends) == body["dropped"]
    assert max(ends.values()) - min(ends.values()) < SPREAD_S
    assert [(status, body["error"]["code"]) for status, body in bad] == [(400, "bad_request")] * 5  # "": no default
    assert metrics["rtref_storm_drops_total"] == body["dropped"]


def test_admin_storm_covers_realtime_and_defaults_to_the_signal_fraction() -> None:
    with running_server("--admin", "--drop-on-signal", "1") as server, native_clients(server, 3) as clients:
        realtime = [websocket.create_connection(server.url("/v1/realtime", "ws"), timeout=5) for _ in range(3)]
        for ws in realtime:
            assert recv_json(ws)["type"] == "session.created"
        status, body = admin_drop(server, "")
        ends = ended([c.ws for c in clients] + realtime)
        for ws in realtime:
            ws.close()
    assert status == 200 and (body["dropped"], body["open"]) == (6, 6)
    assert sorted(ends) == list(range(6))


def test_admin_is_off_by_default_and_sigusr1_without_a_fraction_is_ignored() -> None:
    with running_server() as server, native_clients(server, 5) as clients:
        status, _ = admin_drop(server, "?fraction=0.5")
        server.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while "SIGUSR1 ignored" not in server.stderr() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert_alive(clients)
        assert server.proc.poll() is None
        drops = server.metrics().get('rtref_faults_total{kind="drop"}', 0.0)
    assert status == 404
    assert "SIGUSR1 ignored: started without --drop-on-signal" in server.stderr()
    assert drops == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.8.7", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        ("", False),
        (None, False),
    ],
)
def test_only_loopback_peers_count_as_local(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback
