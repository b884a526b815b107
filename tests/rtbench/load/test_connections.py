"""The one place the load layer builds connections: the transport an adapter asks for."""

from __future__ import annotations

from rtbench.config import RunConfig
from rtbench.load.connections import CallbackListener, is_persistent, transport_factory
from rtbench.protocols.base import adapter_class
from rtbench.transports.http_sse import HttpSseTransport
from rtbench.transports.websocket import WebSocketTransport


def _callbacks() -> CallbackListener:
    return CallbackListener(lambda frame, at: None, lambda reason: None, lambda s, r, at: None, lambda at: None)


def test_websocket_adapters_get_a_persistent_websocket_connection() -> None:
    adapter = adapter_class("native")()
    url = "ws://127.0.0.1:9/ws"
    build = transport_factory(RunConfig.from_dict({"target": url}), None)
    transport = build(adapter, _callbacks(), "127.0.0.2")
    assert is_persistent(adapter, url) and type(transport) is WebSocketTransport and not transport.connected


def test_http_adapters_get_one_http_connection_per_session_without_a_session_on_it() -> None:
    url = "http://127.0.0.1:9/v1/chat/completions"
    adapter = adapter_class("openai-chat")({"url": url})
    transport = transport_factory(RunConfig.from_dict({"target": url}), None)(adapter, _callbacks(), None)
    assert not is_persistent(adapter, url) and not is_persistent(type(adapter), url)
    assert type(transport) is HttpSseTransport and transport.url == url
