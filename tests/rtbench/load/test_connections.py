"""The one place the load layer builds connections: the transport an adapter asks for."""

from __future__ import annotations

from rtbench.config import RunConfig
from rtbench.load.connections import ConnectionCallbacks, is_persistent, transport_factory
from rtbench.protocols.base import adapter_for
from rtbench.transports.http_sse import HttpSseTransport
from rtbench.transports.websocket import WebSocketTransport


def _callbacks() -> ConnectionCallbacks:
    return ConnectionCallbacks(lambda frame, at: None, lambda reason: None, lambda s, r, at: None, lambda at: None)


def test_websocket_adapters_get_a_persistent_websocket_connection() -> None:
    adapter = adapter_for("native")
    build = transport_factory(RunConfig(target="ws://127.0.0.1:9/ws"), None)
    transport = build(adapter, _callbacks(), "127.0.0.2")
    assert is_persistent(adapter) and type(transport) is WebSocketTransport and not transport.connected


def test_http_adapters_get_one_http_connection_per_session_without_a_session_on_it() -> None:
    url = "http://127.0.0.1:9/v1/chat/completions"
    adapter = adapter_for("openai-chat", {"url": url})
    transport = transport_factory(RunConfig(target=url), None)(adapter, _callbacks(), None)
    assert not is_persistent(adapter) and not is_persistent(type(adapter))
    assert type(transport) is HttpSseTransport and transport.url == url
