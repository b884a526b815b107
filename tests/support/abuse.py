"""Abusive clients for the reference server's fuzz and limit tests: raw HTTP, floods, slowloris, health checks.

    status, headers, body = raw_http(server, b"POST /v1/completions HTTP/1.1\\r\\n...")
    results = asyncio.run(open_many(server, upgrade_request("/ws"), 2000))   # held open until closed
    assert_still_serving(server)             # /healthz 200 and a native turn streams correctly
    assert_no_crash(server)                  # process alive, no traceback or ERROR line in its stderr

Everything talks to 127.0.0.1 only and is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import socket
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

import psutil
import websocket
from support.clients import NativeClient
from support.server import ServerHandle

__all__ = [
    "HttpReply",
    "OpenConnection",
    "assert_no_crash",
    "assert_still_serving",
    "close_all",
    "non_readers",
    "open_many",
    "raw_http",
    "rejected",
    "server_rss",
    "slowloris",
    "strict_loads",
    "upgrade_request",
    "ws_frames",
]


def strict_loads(text: str | bytes) -> Any:
    """`json.loads`, then refuse NaN and infinities anywhere in the result (RFC 8259 has neither;
    a number that overflows a double parses as one)."""
    value = json.loads(text)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{item} is not a JSON number")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


def server_rss(server: ServerHandle) -> int:
    """Resident memory of the server process, in bytes."""
    return int(psutil.Process(server.pid).memory_info().rss)


def rejected(server: ServerHandle, reason: str) -> float:
    """`rtref_rejected_total{reason=...}` now."""
    return server.metrics().get(f'rtref_rejected_total{{reason="{reason}"}}', 0.0)


@dataclass
class HttpReply:
    """A response read off a raw socket: status None when the server closed without answering."""

    status: int | None
    headers: dict[str, str]
    body: bytes


def _parse_head(head: bytes) -> tuple[int | None, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def raw_http(server: ServerHandle, request: bytes, timeout: float = 5.0) -> HttpReply:
    """Send `request` as is on a new connection and read the response (the server must answer or close)."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may refuse before reading everything
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no response head within {timeout} s (got {data[:80]!r})")
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                if data:
                    raise AssertionError(f"connection closed inside the response head: {data[:200]!r}")
                return HttpReply(None, {}, b"")
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status, headers = _parse_head(head)
        length = int(headers.get("content-length", "-1"))
        while (length < 0 or len(body) < length) and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            body += chunk
        return HttpReply(status, headers, body)


def upgrade_request(path: str, host: str = "127.0.0.1", extra: str = "") -> bytes:
    """A WebSocket upgrade request for `path`."""
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


@dataclass
class OpenConnection:
    """One connection of a flood: the status the server answered with (None: closed, no answer)."""

    status: int | None
    headers: dict[str, str]
    body: bytes
    writer: asyncio.StreamWriter | None


async def _open_one(server: ServerHandle, request: bytes, timeout: float) -> OpenConnection:
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(server.host, server.port), timeout)
    except (TimeoutError, OSError):
        return OpenConnection(None, {}, b"", None)
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status, headers = _parse_head(head[:-4])
        body = b""
        length = int(headers.get("content-length", "0"))
        if length:
            body = await asyncio.wait_for(reader.readexactly(length), timeout)
        return OpenConnection(status, headers, body, writer)
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        writer.close()
        return OpenConnection(None, {}, b"", None)


async def open_many(
    server: ServerHandle, request: bytes, count: int, concurrency: int = 256, timeout: float = 10.0
) -> list[OpenConnection]:
    """Open `count` connections (at most `concurrency` handshakes at a time), send `request` on each and
    read the response head; the connections stay open until `close_all`."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> OpenConnection:
        async with gate:
            return await _open_one(server, request, timeout)

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def close_all(connections: list[OpenConnection]) -> None:
    for conn in connections:
        if conn.writer is not None:
            conn.writer.close()
    await asyncio.sleep(0)


async def slowloris(
    server: ServerHandle, count: int, request: bytes, interval_s: float, limit_s: float, head: bytes = b""
) -> list[float | None]:
    """`count` connections that each send `head` at once, then `request` one byte per `interval_s`
    (over and over; nothing if it is empty).

    Returns, per connection, the seconds until the server closed it (None if it was still open after
    `limit_s`; then it is closed here).
    """

    async def one() -> float | None:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(head)
        try:
            for index in range(10**9):
                if request:
                    writer.write(request[index % len(request) : index % len(request) + 1])
                try:
                    data = await asyncio.wait_for(reader.read(65536), interval_s)
                except TimeoutError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    return time.monotonic() - started
                if time.monotonic() - started > limit_s:
                    return None
            return None
        finally:
            writer.close()

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def non_readers(
    server: ServerHandle,
    payload: bytes,
    count: int,
    rcvbuf: int = 4096,
) -> list[asyncio.StreamWriter]:
    """`count` connections with a small receive buffer that send `payload` and never read."""
    writers = []
    for _ in range(count):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (server.host, server.port))
        _, writer = await asyncio.open_connection(sock=sock)
        writer.transport.pause_reading()
        writer.write(payload)
        writers.append(writer)
    return writers


def ws_frames(*messages: dict[str, Any]) -> bytes:
    """Client (masked) WebSocket text frames carrying `messages` as JSON."""
    return b"".join(websocket.ABNF.create_frame(json.dumps(m), websocket.ABNF.OPCODE_TEXT).format() for m in messages)


def assert_still_serving(server: ServerHandle) -> None:
    """/healthz answers 200 and a fresh native session streams a complete, correct response."""
    with urllib.request.urlopen(server.base_url + "/healthz", timeout=5) as response:
        assert response.status == 200
    with NativeClient(server.ws_url) as client:
        frames = client.turn("health", "is it up")
    tokens = [f for f in frames if f["type"] == "token"]
    done = frames[-1]
    assert done["type"] == "done", frames
    assert "".join(t["text"] for t in tokens) == "".join(f"tok{i} " for i in range(done["usage"]["output_tokens"]))
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


def assert_no_crash(server: ServerHandle) -> None:
    """The server process is alive and wrote no traceback and no ERROR line."""
    assert server.proc.poll() is None, f"the server exited with {server.proc.returncode}: {server.stderr()}"
    stderr = server.stderr()
    assert "Traceback" not in stderr, stderr
    assert " ERROR " not in stderr, stderr
