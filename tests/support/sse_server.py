"""A scripted HTTP/1.1 server on 127.0.0.1 for streaming tests: it answers each request with the
next scripted `Reply`, byte for byte, so it can send what well-behaved servers never do (truncated
streams, garbage chunks, a close mid-response, error statuses, `Connection: close`).

    from support.sse_server import Reply, ScriptedServer, head, chunk, event, LAST_CHUNK

    reply = Reply(head(), chunk(event({"choices": []})), 0.05, chunk(b"data: [DONE]\\n\\n"), LAST_CHUNK)
    with ScriptedServer([reply]) as server:
        url = server.url("/v1/chat/completions")
        ...
        server.requests[0].body, server.connections

Pieces of a reply are written one `sendall` each; a float piece is a pause in seconds. With
`close=True` the connection is closed after the reply; when the script runs out, the connection
is closed instead of answering. It runs on plain threads with blocking sockets (or greenlets, if
gevent has patched the standard library), with TLS when given a server `ssl.SSLContext`.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LAST_CHUNK",
    "Reply",
    "Request",
    "ScriptedServer",
    "chunk",
    "event",
    "head",
    "json_reply",
    "make_certificate",
    "server_tls_context",
]

#: The chunk that ends a chunked body.
LAST_CHUNK = b"0\r\n\r\n"
_POLL_S = 0.05


def head(status: int = 200, reason: str = "OK", headers: dict[str, str] | None = None, chunked: bool = True) -> bytes:
    """A response head; an SSE content type and chunked transfer encoding unless told otherwise."""
    fields = {"Content-Type": "text/event-stream", **(headers or {})}
    if chunked:
        fields["Transfer-Encoding"] = "chunked"
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    """`data` framed as one chunk of a chunked body."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def event(obj: Any) -> bytes:
    """A `data:` event carrying `obj` as JSON (bytes are sent as they are)."""
    data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return b"data: " + data + b"\n\n"


@dataclass(frozen=True)
class Reply:
    """One scripted response: byte pieces written in turn, float pieces slept, then maybe a close."""

    pieces: tuple[bytes | float, ...]
    close: bool = False

    def __init__(self, *pieces: bytes | float, close: bool = False) -> None:
        object.__setattr__(self, "pieces", pieces)
        object.__setattr__(self, "close", close)


def json_reply(status: int, reason: str, body: Any, close: bool = False) -> Reply:
    """A whole JSON response with a Content-Length (an API error, say)."""
    payload = json.dumps(body).encode()
    fields = {"Content-Type": "application/json", "Content-Length": str(len(payload))}
    return Reply(head(status, reason, fields, chunked=False) + payload, close=close)


@dataclass(frozen=True)
class Request:
    """A request as received."""

    method: str
    target: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes
    #: When the whole request had arrived (`time.time()`).
    received_at: float = 0.0


@dataclass
class ScriptedServer:
    """The server; a context manager that listens on a free 127.0.0.1 port while it is open."""

    replies: Iterable[Reply]
    tls: ssl.SSLContext | None = None
    #: Every request received, in order.
    requests: list[Request] = field(default_factory=list)
    #: How many TCP connections were accepted.
    connections: int = 0

    def __post_init__(self) -> None:
        self._script: Iterator[Reply] = iter(self.replies)
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []

    def url(self, path: str = "/v1/chat/completions") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> ScriptedServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                _shut(sock)
        for thread in self._threads:
            thread.join(timeout=5)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self.connections += 1
                self._sockets.append(sock)
            self._spawn(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
            reader = sock.makefile("rb")
            while not self._stopping.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                    reply = next(self._script, None)
                if reply is None:
                    return
                for piece in reply.pieces:
                    if isinstance(piece, bytes):
                        sock.sendall(piece)
                    else:
                        time.sleep(piece)
                if reply.close:
                    return
        except OSError:
            pass
        finally:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def _read_request(reader: Any) -> Request | None:
    """The next request on the connection (Content-Length bodies only); None at its end."""
    request_line = reader.readline()
    if not request_line.strip():
        return None
    method, target, _ = request_line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0")))
    return Request(method, target, headers, body, time.time())


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 and its key, made with openssl."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context serving `cert`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
