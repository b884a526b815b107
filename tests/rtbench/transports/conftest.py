"""Fixtures for the transport tests: a real aiohttp WebSocket server in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).with_name("ws_test_server.py")


@dataclass(frozen=True)
class ServerHandle:
    """A running ws_test_server.py."""

    port: int
    hang_port: int
    pid: int

    def url(self, path: str = "/ws", scheme: str = "ws", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def start_server() -> Iterator[Callable[..., ServerHandle]]:
    """Start ws_test_server.py with the given flags; every server is stopped at module end."""
    processes: list[subprocess.Popen[str]] = []

    def start(*flags: str) -> ServerHandle:
        process = subprocess.Popen([sys.executable, str(SERVER_SCRIPT), *flags], stdout=subprocess.PIPE, text=True)
        processes.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"test server exited with {process.wait(5)}")
        ports = json.loads(line)
        return ServerHandle(ports["port"], ports["hang_port"], process.pid)

    yield start
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(start_server: Callable[..., ServerHandle]) -> ServerHandle:
    """A plain server without keepalive pings."""
    return start_server()
