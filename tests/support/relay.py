"""A recording TCP relay in front of a real HTTP server, for tests that must see both sides of each
request: what rtbench sent, and what the server answered (its usage block, say).

    with Relay(server.port) as relay:
        ... run rtbench against relay.url("/v1/chat/completions") ...
    for exchange in relay.exchanges():
        exchange.body["messages"], exchange.usage()["prompt_tokens"]

Bytes are copied as they come, on plain threads, and parsed afterwards: the requests of each
connection (a head and a Content-Length body) paired in order with its responses (a head and a
chunked or Content-Length body). A response cut off at the end of a connection pairs with nothing.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

from support.ports import worker_port

__all__ = ["Exchange", "Relay"]

_POLL_S = 0.05


@dataclass(frozen=True)
class Exchange:
    """One request of a connection and the response it got."""

    connection: int
    #: The request's JSON body.
    body: dict[str, Any]
    #: The response body (chunked bodies joined).
    response: bytes

    def usage(self) -> dict[str, Any]:
        """The usage object of an SSE response (the last `data:` event that carries one)."""
        found: dict[str, Any] = {}
        for line in self.response.decode().splitlines():
            if line.startswith("data: {"):
                usage = json.loads(line[len("data: ") :]).get("usage")
                if isinstance(usage, dict):
                    found = usage
        return found


class Relay:
    """Listens on one of this worker's ports; each connection is relayed to `upstream_port`."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self.port = worker_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(_POLL_S)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        #: (client -> server bytes, server -> client bytes) of each connection, in accept order.
        self._streams: list[tuple[bytearray, bytearray]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Relay:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def exchanges(self) -> list[Exchange]:
        """Every complete request and response, connection by connection, in order."""
        found: list[Exchange] = []
        with self._lock:
            streams = [(bytes(sent), bytes(got)) for sent, got in self._streams]
        for number, (sent, got) in enumerate(streams):
            requests, responses = _messages(sent, is_response=False), _messages(got, is_response=True)
            for request, response in zip(requests, responses, strict=False):
                found.append(Exchange(number, json.loads(request), response))
        return found

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self._upstream)
            for sock in (client, upstream):  # no Nagle delay on the small frames of a stream
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sent, got = bytearray(), bytearray()
            with self._lock:
                self._sockets += [client, upstream]
                self._streams.append((sent, got))
            self._spawn(_pipe, client, upstream, sent)
            self._spawn(_pipe, upstream, client, got)


def _pipe(source: socket.socket, sink: socket.socket, record: bytearray) -> None:
    """Copy `source` to `sink` (recording it) until `source` ends; then end `sink`'s writing."""
    try:
        while data := source.recv(65536):
            record += data
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _messages(stream: bytes, is_response: bool) -> list[bytes]:
    """The bodies of the complete HTTP/1.1 messages in `stream`, in order."""
    bodies: list[bytes] = []
    position = 0
    while (end := stream.find(b"\r\n\r\n", position)) >= 0:
        head = stream[position:end].decode("latin-1").lower()
        position = end + 4
        if is_response and "transfer-encoding: chunked" in head:
            body = bytearray()
            while (line_end := stream.find(b"\r\n", position)) >= 0:
                size = int(stream[position:line_end].split(b";")[0], 16)
                if line_end + 2 + size + 2 > len(stream):
                    return bodies  # cut off
                body += stream[line_end + 2 : line_end + 2 + size]
                position = line_end + 2 + size + 2
                if size == 0:
                    bodies.append(bytes(body))
                    break
            else:
                return bodies
            continue
        length = next((int(line.split(":")[1]) for line in head.split("\r\n") if line.startswith("content-length:")), 0)
        if position + length > len(stream):
            return bodies
        bodies.append(stream[position : position + length])
        position += length
    return bodies
