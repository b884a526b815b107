"""Loopback ports for test servers that never clash between pytest-xdist workers.

    from support.ports import worker_port

    port = worker_port()        # free on 127.0.0.1 now, and in no other worker's block

A port picked with `bind(port 0)` comes from the kernel's ephemeral range (32768-60999 here), the
range every outgoing connection takes its source port from too. Between the pick and the server's
own bind (a subprocess start, about a second) a connection of a parallel worker can take it. Each
worker (`PYTEST_XDIST_WORKER=gwN`; the serial run is worker 0) therefore hands out ports of its own
block below that range, round robin, skipping any that is in use.
"""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

__all__ = ["BLOCK", "FIRST_PORT", "block_of", "worker_index", "worker_port"]

#: The first port of worker 0's block, and ports per worker.
FIRST_PORT = 20000
BLOCK = 500

_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_turn = itertools.count()


def worker_index() -> int:
    """This process's xdist worker number (`gw3` -> 3), 0 when the run is not parallel."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name.removeprefix("gw")) if name.startswith("gw") else 0


def block_of(index: int) -> range:
    """The ports of worker `index`; below the ephemeral range, or a RuntimeError."""
    first = FIRST_PORT + index * BLOCK
    ports = range(first, first + BLOCK)
    ephemeral_low = int(_EPHEMERAL_RANGE.read_text().split()[0]) if _EPHEMERAL_RANGE.exists() else 32768
    if ports.stop > ephemeral_low:
        raise RuntimeError(f"worker {index}'s ports {first}-{ports.stop - 1} reach the ephemeral range: fewer workers")
    return ports


def worker_port(host: str = "127.0.0.1") -> int:
    """The next port of this worker's block that nothing is bound to on `host` right now."""
    ports = block_of(worker_index())
    for _ in ports:
        port = ports[next(_turn) % len(ports)]
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {ports.start}-{ports.stop - 1} on {host}")
