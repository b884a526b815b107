"""tls.py against a real TLS server on loopback: verification by CA file, insecure mode, failures."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import gevent.socket
import pytest
from support.sse_server import ScriptedServer, json_reply, make_certificate, server_tls_context

from rtbench.errors import ConfigError
from rtbench.transports import websocket
from rtbench.transports.base import TransportError
from rtbench.transports.tls import check_tls_context, tls_context, wrap_tls


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(certificate: tuple[Path, Path]) -> Iterator[ScriptedServer]:
    replies = [json_reply(200, "OK", {"ok": True}) for _ in range(3)]
    with ScriptedServer(replies, tls=server_tls_context(*certificate)) as running:
        yield running


def handshake(server: ScriptedServer, context: ssl.SSLContext | None, host: str = "127.0.0.1") -> bytes:
    """Connect, shake hands, ask for / and return the start of the answer."""
    sock = gevent.socket.create_connection(("127.0.0.1", server.port), timeout=5)
    tls = wrap_tls(sock, context, host, server.url())
    try:
        tls.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        return tls.recv(15)
    finally:
        tls.close()


def test_verifies_the_server_against_a_ca_file(server: ScriptedServer, certificate: tuple[Path, Path]) -> None:
    assert handshake(server, tls_context(str(certificate[0]))) == b"HTTP/1.1 200 OK"


def test_an_unknown_certificate_fails_the_handshake(server: ScriptedServer) -> None:
    with pytest.raises(TransportError) as excinfo:
        handshake(server, None)  # the system CAs do not know the self-signed certificate
    assert excinfo.value.kind == "handshake" and "certificate" in str(excinfo.value).lower()


def test_a_wrong_host_name_fails_the_handshake(server: ScriptedServer, certificate: tuple[Path, Path]) -> None:
    with pytest.raises(TransportError) as excinfo:
        handshake(server, tls_context(str(certificate[0])), host="other.test")
    assert excinfo.value.kind == "handshake"


def test_insecure_skips_verification(server: ScriptedServer) -> None:
    context = tls_context(insecure=True)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert handshake(server, context, host="other.test") == b"HTTP/1.1 200 OK"


def test_the_handshake_failure_closes_the_socket(server: ScriptedServer) -> None:
    sock = gevent.socket.create_connection(("127.0.0.1", server.port), timeout=5)
    with pytest.raises(TransportError):
        wrap_tls(sock, None, "127.0.0.1", server.url())
    assert sock.fileno() == -1


def test_contexts_must_be_cooperative() -> None:
    check_tls_context(None)
    check_tls_context(tls_context(insecure=True))
    with pytest.raises(ConfigError, match="gevent"):
        check_tls_context(ssl.create_default_context())


def test_websocket_re_exports_it() -> None:
    assert websocket.tls_context is tls_context
