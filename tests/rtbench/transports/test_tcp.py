"""tcp.py: target URLs, address families, DNS and TCP connects on loopback."""

from __future__ import annotations

import socket
import time

import gevent
import pytest

from rtbench.errors import ConfigError
from rtbench.transports.base import TransportError
from rtbench.transports.tcp import Target, connect_within, open_tcp, resolve, source_family, split_target

PORTS = {"http": 80, "https": 443}


def test_split_target() -> None:
    assert split_target("https://user:pw@example.test:8443/v1/chat/completions?x=1", PORTS, "https") == Target(
        "example.test", 8443, True, "/v1/chat/completions?x=1", "example.test:8443"
    )
    assert split_target("http://127.0.0.1", PORTS, "https") == Target("127.0.0.1", 80, False, "/", "127.0.0.1")
    assert split_target("http://[::1]:9/p", PORTS, "https").authority == "[::1]:9"


@pytest.mark.parametrize("url", ["ws://127.0.0.1/", "http://127.0.0.1:99999/", "http:///v1", "127.0.0.1:80"])
def test_bad_targets_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError, match="URL"):
        split_target(url, PORTS, "https")


def test_source_family() -> None:
    assert source_family(None) == socket.AF_UNSPEC
    assert source_family("127.0.0.2") == socket.AF_INET
    assert source_family("::1") == socket.AF_INET6
    with pytest.raises(ConfigError, match="not an IP address"):
        source_family("loopback")


def test_connect_from_a_source_address() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sock = open_tcp(resolve("127.0.0.1", port, socket.AF_INET), "127.0.0.2", "here")
        accepted, peer = listener.accept()
        try:
            assert peer[0] == "127.0.0.2" and sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            accepted.close()
            sock.close()


def test_refused_and_dns_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connects are refused
        with pytest.raises(TransportError) as refused:
            open_tcp(resolve("127.0.0.1", port, socket.AF_INET), None, f"127.0.0.1:{port}")
    assert refused.value.kind == "refused" and f"127.0.0.1:{port}" in str(refused.value)
    with pytest.raises(TransportError) as dns:
        resolve(f"{'a' * 64}.invalid", 80, socket.AF_UNSPEC)  # rejected by IDNA before any lookup
    assert dns.value.kind == "dns"


def test_connect_within_times_the_connect_and_the_handshake() -> None:
    ticks = iter(range(100))
    handshakes: list[socket.socket] = []

    def handshake(sock: socket.socket) -> socket.socket:
        handshakes.append(sock)
        return sock

    with socket.create_server(("127.0.0.1", 0)) as listener:
        target = split_target(f"http://127.0.0.1:{listener.getsockname()[1]}/", PORTS, "https")
        sock, timing = connect_within(target, 5.0, lambda: float(next(ticks)), handshake=handshake)
        sock.close()
    assert handshakes == [sock] and (timing.start, timing.end) == (0.0, 1.0)


def test_connect_within_gives_up_at_the_deadline() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        target = split_target(f"http://127.0.0.1:{listener.getsockname()[1]}/", PORTS, "https")
        start = time.perf_counter()
        with pytest.raises(TransportError) as excinfo:
            connect_within(target, 0.2, time.perf_counter, handshake=lambda sock: gevent.sleep(5) or sock)
    assert excinfo.value.kind == "timeout" and "0.2 s" in str(excinfo.value)
    assert 0.2 <= time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("host", "family"),
    [
        ("127.0.0.1", socket.AF_UNSPEC),
        ("127.0.0.3", socket.AF_INET),
        ("::1", socket.AF_UNSPEC),
        ("::1", socket.AF_INET6),
    ],
)
def test_ip_literals_resolve_as_getaddrinfo_would(host: str, family: int) -> None:
    expected = socket.getaddrinfo(host, 8080, family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    assert resolve(host, 8080, family) == [tuple(entry) for entry in expected]


def test_ip_literal_of_the_wrong_family_is_left_to_getaddrinfo() -> None:
    with pytest.raises(TransportError) as caught:
        resolve("::1", 80, socket.AF_INET)  # a source address of the other family
    assert caught.value.kind == "dns"
