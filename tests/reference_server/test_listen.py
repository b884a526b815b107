"""The port probe: one-line errors for a port in use or an address that cannot be used."""

from __future__ import annotations

import socket

import pytest

from reference_server.listen import ListenError, PortInUseError, ensure_port_free, http_url


def listener(reuse_port: bool) -> socket.socket:
    """A listening socket set up like asyncio's (SO_REUSEADDR), optionally with SO_REUSEPORT too."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("reuse_port", [False, True])
def test_a_listening_port_is_in_use(reuse_port: bool) -> None:
    # With SO_REUSEPORT the workers could silently share the port with another server: the probe must not.
    with listener(reuse_port) as sock:
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"^port {port} on 127.0.0.1 is already in use$"):
            ensure_port_free("127.0.0.1", port)


def test_a_free_port_passes_and_stays_free() -> None:
    with listener(False) as sock:
        port = sock.getsockname()[1]
    ensure_port_free("127.0.0.1", port)
    ensure_port_free("127.0.0.1", port)  # the probe released it


def test_a_port_with_only_finished_connections_is_free() -> None:
    with listener(False) as server:
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
        client.close()
    ensure_port_free("127.0.0.1", port)


def test_an_unusable_address_is_a_listen_error() -> None:
    with pytest.raises(ListenError, match="cannot listen on 192.0.2.123:9"):
        ensure_port_free("192.0.2.123", 9)  # TEST-NET address, assigned to no interface here


def test_http_url_brackets_ipv6() -> None:
    assert http_url("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert http_url("::1", 8765) == "http://[::1]:8765"
