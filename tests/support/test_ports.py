"""Per-worker test ports: disjoint between workers, below the ephemeral range, free when handed out."""

from __future__ import annotations

import socket

import pytest
from support.ports import BLOCK, block_of, worker_index, worker_port

import rtbench.local_server


def test_blocks_of_workers_are_disjoint_and_below_the_ephemeral_range() -> None:
    blocks = [set(block_of(index)) for index in range(8)]
    assert all(len(block) == BLOCK for block in blocks)
    assert len(set().union(*blocks)) == 8 * BLOCK
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        assert max(block_of(7)) < int(ranges.read().split()[0])


def test_worker_index_follows_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert worker_index() == 3
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert worker_index() == 0


def test_ports_are_free_and_a_bound_one_is_skipped() -> None:
    own = block_of(worker_index())
    first = worker_port()
    assert first in own
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first + 1 if first + 1 in own else own.start))
        holder.listen()
        taken = holder.getsockname()[1]
        seen = {worker_port() for _ in range(len(own) - 1)}
    assert taken not in seen


def test_local_server_takes_its_default_port_from_the_block() -> None:
    """tests/conftest.py routes `LocalServer()`'s default port through `worker_port`."""
    server = rtbench.local_server.LocalServer()
    assert server.port in block_of(worker_index())
