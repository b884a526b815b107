"""Small blocking clients for the reference server's protocols, for tests (websocket-client, http.client).

with NativeClient(server.ws_url) as client:      # reads the `session` frame
    frames = client.turn("t1", "hello")         # token frames ... done (or an error)
"""

from __future__ import annotations

import http.client
import json
import struct
import time
from typing import Any
from urllib.parse import urlsplit

import websocket

__all__ = ["NativeClient", "SseResponse", "close_code", "post_json", "post_sse", "recv_json"]


def recv_json(ws: websocket.WebSocket) -> dict[str, Any]:
    """The next text frame, parsed."""
    return json.loads(ws.recv())


def close_code(ws: websocket.WebSocket, timeout: float = 5.0) -> int | None:
    """Read until the server's close frame and return its code (None if the socket just ended)."""
    ws.settimeout(timeout)
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                return struct.unpack("!H", data[:2])[0] if len(data) >= 2 else None
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        return None


class NativeClient:
    """A `/ws` connection; `session` is the first frame the server sent."""

    def __init__(self, url: str, timeout: float = 5.0, **options: Any) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout, **options)
        self.session = recv_json(self.ws)

    def __enter__(self) -> NativeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.ws.close()

    def send(self, **message: Any) -> float:
        """Send a JSON message; returns the perf_counter time just before the send."""
        payload = json.dumps(message)
        sent = time.perf_counter()
        self.ws.send(payload)
        return sent

    def recv(self) -> dict[str, Any]:
        return recv_json(self.ws)

    def prompt(self, turn_id: str, text: str = "hello there", **extra: Any) -> float:
        return self.send(type="prompt", id=turn_id, text=text, **extra)

    def until(self, kinds: set[str], turn_id: str | None = None) -> list[dict[str, Any]]:
        """Frames up to and including the first whose type is in `kinds` (for `turn_id`, if given)."""
        frames = []
        while True:
            frame = self.recv()
            frames.append(frame)
            if frame["type"] in kinds and (turn_id is None or frame.get("id") == turn_id):
                return frames

    def turn(self, turn_id: str, text: str = "hello there", **extra: Any) -> list[dict[str, Any]]:
        """Prompt and collect the turn's frames up to its `done` or `error`."""
        self.prompt(turn_id, text, **extra)
        return self.until({"done", "error"}, turn_id)


class SseResponse:
    """A streamed HTTP response read as server-sent events, each with its arrival time."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status = response.status
        self.headers = response.headers
        self.events: list[tuple[float, str]] = []
        for raw in response:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data: "):
                self.events.append((time.perf_counter(), line[6:]))

    @property
    def data(self) -> list[str]:
        return [data for _, data in self.events]

    def json(self) -> list[dict[str, Any]]:
        """Every event but `[DONE]`, parsed."""
        return [json.loads(data) for data in self.data if data != "[DONE]"]


def _request(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", parts.path, payload, {"Content-Type": "application/json", **(headers or {})})
    return conn.getresponse()


def post_sse(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[float, SseResponse]:
    """POST `body` and read the whole event stream; returns (send time, response)."""
    sent = time.perf_counter()
    return sent, SseResponse(_request(url, body, headers))


def post_json(url: str, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST and return (status, parsed JSON body)."""
    response = _request(url, body, headers)
    return response.status, json.loads(response.read())
