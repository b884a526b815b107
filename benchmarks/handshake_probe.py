"""Time WebSocket opening handshakes outside rtbench's load run, in a process of their own.

    python benchmarks/handshake_probe.py MODE --url ws://127.0.0.1:P/ws --count 50 --rate 25 [--burst 25]

Each connection is timed from the start of the TCP connect to the end of the server's `101`
response headers (rtbench's `connect` metric), and kept open until the end, as a load run does.
Connections are opened `--burst` at a time, `--rate / --burst` bursts per second.

- `raw`: plain non-blocking sockets and a selector; the HTTP upgrade request written by hand. The
  client does next to nothing, so this is the server's handshake cost plus loopback.
- `wsc`: `websocket.create_connection` (websocket-client, blocking, no gevent); sequential only.
- `transport`: `rtbench.transports.websocket.WebSocketTransport` under gevent, without Locust:
  one greenlet per connection of a burst.

Prints one JSON line: {"mode", "count", "burst", "p50_ms", "p90_ms", "max_ms"}.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = ["main", "raw_burst", "upgrade_request"]


def upgrade_request(host: str, port: int, path: str) -> bytes:
    key = "x3JJHMbDL1EzLkh9GBhXDw=="  # any 16 bytes, base64: the server does not care which
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def raw_burst(host: str, port: int, path: str, count: int, keep: list[socket.socket]) -> list[float]:
    """Open `count` connections at once; the handshake time of each, in ms."""
    request = upgrade_request(host, port, path)
    selector = selectors.DefaultSelector()
    started: dict[socket.socket, float] = {}
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        started[sock] = time.perf_counter()
        sock.connect_ex((host, port))
        selector.register(sock, selectors.EVENT_WRITE, b"")
        keep.append(sock)
    times: list[float] = []
    while len(times) < count:
        for key, events in selector.select(timeout=10.0):
            sock = key.fileobj  # type: ignore[assignment]
            if events & selectors.EVENT_WRITE:
                sock.sendall(request)
                selector.modify(sock, selectors.EVENT_READ, b"")
                continue
            data = key.data + sock.recv(4096)
            if b"\r\n\r\n" in data:
                times.append(1000.0 * (time.perf_counter() - started[sock]))
                selector.unregister(sock)
            else:
                selector.modify(sock, selectors.EVENT_READ, data)
    return times


def _wsc_one(url: str, keep: list[object]) -> float:
    import websocket

    start = time.perf_counter()
    ws = websocket.create_connection(url, sockopt=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    end = time.perf_counter()
    keep.append(ws)
    return 1000.0 * (end - start)


def _transport_burst(url: str, count: int, keep: list[object]) -> list[float]:
    import gevent

    from rtbench.transports.base import CallbackListener, ConnectOptions
    from rtbench.transports.websocket import WebSocketTransport

    listener = CallbackListener(lambda frame, at: None, lambda reason: None)

    def one() -> float:
        transport = WebSocketTransport(url, ConnectOptions(), listener)
        timing = transport.connect()
        keep.append(transport)
        return 1000.0 * (timing.end - timing.start)

    greenlets = [gevent.spawn(one) for _ in range(count)]
    gevent.joinall(greenlets, raise_error=True)
    return [g.value for g in greenlets]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("raw", "wsc", "transport"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rate", type=float, default=25.0, help="connections per second (default 25)")
    parser.add_argument("--burst", type=int, default=1, help="connections opened at once (default 1)")
    args = parser.parse_args(argv)
    if args.mode == "transport":
        from gevent import monkey

        monkey.patch_all()
        import gevent

        sleep: Callable[[float], None] = gevent.sleep
    else:
        sleep = time.sleep
    parts = urlsplit(args.url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    keep: list[object] = []
    times: list[float] = []
    begin = time.perf_counter()
    for index in range(0, args.count, args.burst):
        delay = begin + index / args.rate - time.perf_counter()
        if delay > 0:
            sleep(delay)
        size = min(args.burst, args.count - index)
        if args.mode == "raw":
            times += raw_burst(host, port, path, size, keep)  # type: ignore[arg-type]
        elif args.mode == "transport":
            times += _transport_burst(args.url, size, keep)
        elif size == 1:
            times.append(_wsc_one(args.url, keep))
        else:
            parser.error("wsc is blocking: --burst 1 only")
    times.sort()
    print(
        json.dumps(
            {
                "mode": args.mode,
                "count": len(times),
                "burst": args.burst,
                "p50_ms": times[len(times) // 2],
                "p90_ms": times[int(0.9 * len(times))],
                "max_ms": times[-1],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
